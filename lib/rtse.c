/*
 * X.228 RTSE: the reliable transfer protocol machine (RTPM) and the RTSE
 * APDU codec (asn1c types from asn1/rtse.asn1; the RTTR fast path is coded
 * by hand so that the data of a transfer is copied once).  Sans-I/O over
 * the abstract lower interface of lib/rtse.h.  doc/rtse.md.
 */
#include <stdio.h>
#include <string.h>

#include <asn_application.h>
#include <ber_decoder.h>
#include <der_encoder.h>

#include <ANY.h>
#include <BIT_STRING.h>
#include <CallingSSuserReference.h>
#include <ConnectionData.h>
#include <RTABapdu.h>
#include <RTOACapdu.h>
#include <RTORJapdu.h>
#include <RTORQapdu.h>
#include <RTSE-apdus.h>
#include <RTTPapdu.h>
#include <RTTRapdu.h>
#include <SessionConnectionIdentifier.h>

#include "rtse.h"

#define CTRL_MAX 65536u        /* bound on a control APDU (RTORQ, RTAB, ...) */
#define PIECE_MAX 65536u       /* P-DATA piece when no checkpointing is used */
#define RETRY_MS 2000u         /* interval between recovery attempts */
#define HDR_MAX 32u            /* EXTERNAL header of an APDV */
#define RING_MAX (X400_RTSE_MAX_WINDOW + 1u)
#define NEVER UINT64_MAX
#define SERIAL_LIMIT 999000u   /* serial numbers have at most 6 digits (X.225) */

/* X.228 AbortReason */
enum { AR_LOCAL = 0, AR_INVALID_PARAM = 1, AR_UNRECOGNIZED_ACT = 2, AR_TEMPORARY = 3, AR_PROTOCOL = 4,
       AR_PERMANENT = 5, AR_USER = 6, AR_TRANSFER_COMPLETED = 7 };
/* X.228 RefuseReason */
enum { RJ_BUSY = 0, RJ_CANNOT_RECOVER = 1, RJ_VALIDATION = 2, RJ_DIALOGUE_MODE = 3 };
/* reflectedParameter bits (which RTORQ/RTOAC field was wrong) */
enum { RP_CHECKPOINT = 0x80, RP_WINDOW = 0x40, RP_DIALOGUE = 0x20, RP_CONNDATA = 0x10, RP_APPPROTO = 0x08 };

typedef struct ckpt { uint32_t serial; uint64_t off; } ckpt;

/* Receiver side of the APDV wrapping: normal mode strips EXTERNAL
 * {[direct-reference], [indirect-reference], [descriptor], single-ASN1-type
 * [0] | octet-aligned [1]}; X.410 mode passes the octets through. */
typedef struct unwrap {
    int raw;                 /* X.410 mode */
    int hdr_done;
    uint8_t hdr[HDR_MAX];
    size_t hdr_have, hdr_len;
    uint64_t content_len;    /* NEVER = indefinite [0] */
    unsigned after;          /* EOC octets expected after definite content */
    unsigned after_seen;
    unsigned hold_need;      /* indefinite content: trailing EOC octets held back */
    uint8_t hold[4];
    unsigned hold_len;
    uint64_t delivered;      /* content octets handed to the user */
} unwrap;

typedef struct tx_state {
    int active;
    const uint8_t *apdu;
    size_t len;
    uint64_t tid;
    x400_rtse_priority prio;
    uint8_t hdr[16];
    size_t hdr_len;
    uint64_t total;          /* APDV octets (hdr + apdu) */
    uint64_t off;            /* next APDV offset to send */
    ckpt ring[RING_MAX];     /* unconfirmed checkpoints */
    unsigned nring;
    uint32_t conf_serial;    /* last confirmed checkpoint */
    uint64_t conf_off;
    uint8_t id[6];
    size_t id_len;
    int ended;
    uint64_t deadline;
} tx_state;

typedef struct rx_state {
    int active;              /* an activity exists (running, interrupted or completed) */
    int completed;           /* delivered whole; kept for a resume of it */
    int skip_all;            /* resumed completed activity: drop every octet */
    int user_holds;          /* completed, but the user deferred its confirmation
                              * and has not given it yet: survives a lost
                              * connection, so a resumed activity's end is
                              * not confirmed to the sender on the user's behalf */
    uint8_t id[6];
    size_t id_len;
    uint64_t cur;            /* APDV offset of the next octet to arrive */
    uint64_t secured;        /* octets below are confirmed and handed over */
    x400i_buf buf;           /* octets [secured, cur) */
    ckpt ring[RING_MAX];     /* confirmed checkpoints, oldest first */
    unsigned nring;
    unwrap uw;
    uint64_t expires;        /* completed record: erase then */
    uint64_t total;          /* completed: APDV length */
} rx_state;

struct x400i_rtse {
    const x400_allocator *alloc;
    const x400_logger *log;
    x400_logger log_copy;
    int has_log;
    int initiator;
    x400_rtse_config cfg;
    x400i_rtse_lower lo;
    x400i_rtse_callbacks cb;
    int state;
    int ev_state;                /* the state when the current event arrived */
    int turn;
    int twa;
    int x410;                    /* X.410-1984 mode: configured (initiator) or the connection's (responder) */
    uint32_t cp_kib, window;
    uint64_t now;
    int cb_failed;
    int cb_rc;           /* what the failing callback returned */
    x400_diag diag;
    x400i_rtse_ref cur_ref;      /* this connection */
    int end_deferred;            /* receiver: the user holds the P-ACTIVITY-END response */
    x400i_rtse_ref lost_ref;     /* the connection the interrupted activity ran on */
    int have_lost_ref;
    int restored;
    int connecting;              /* recovery: connect_req outstanding */
    uint64_t rec_deadline, retry_at;
    uint32_t next_act;
    uint64_t bytes_sent;
    tx_state tx;
    rx_state rx;
    x400i_buf out;               /* scratch for encoded APDUs */
    uint8_t *open_ud;            /* RT-OPEN user data (kept for the RTORQ) */
    size_t open_ud_len;
};

/* ---- events and the state table ------------------------------------------ */
enum {
    EV_OPEN_REQ, EV_OPEN_RSP, EV_TRANSFER_REQ, EV_TURN_PLEASE_REQ, EV_TURN_GIVE_REQ, EV_CLOSE_REQ,
    EV_CLOSE_RSP, EV_U_ABORT_REQ,
    EV_L_FIRST, /* = X400I_RTSE_LIND_* + EV_L_FIRST */
    EV_T_TRANSFER = EV_L_FIRST + X400I_RTSE_LIND_COUNT, EV_T_RECOVERY, EV_T_RETRY, EV_T_RECORD,
    EV_COUNT
};
#define EVL(t) (EV_L_FIRST + X400I_RTSE_LIND_##t)
#define IS_USER_EV(e) ((e) < EV_L_FIRST)
#define IS_TIMER_EV(e) ((e) >= EV_T_TRANSFER)

static const char *const ev_names[EV_COUNT] = {
    "RT-OPEN request", "RT-OPEN response", "RT-TRANSFER request", "RT-TURN-PLEASE request",
    "RT-TURN-GIVE request", "RT-CLOSE request", "RT-CLOSE response", "RT-U-ABORT request",
    "RTORQ (connect indication)", "RTOAC/RTORJ (connect confirm)", "P-DATA (RTTR)",
    "P-SYNC-MINOR indication", "P-SYNC-MINOR confirm", "P-ACTIVITY-START indication",
    "P-ACTIVITY-RESUME indication", "P-ACTIVITY-INTERRUPT indication", "P-ACTIVITY-DISCARD indication",
    "P-ACTIVITY-END indication", "P-ACTIVITY-END confirm", "P-TOKEN-PLEASE (RTTP) indication",
    "P-CONTROL-GIVE indication", "release indication", "release confirm", "abort indication (RTAB)",
    "provider abort", "transfer timer", "recovery timer", "recovery retry timer", "record expiry timer",
};

static const char *const st_names[X400I_RTSE_ST_COUNT] = {
    "idle", "wait for RTOAC", "wait for RT-OPEN response", "open", "sending", "wait for activity end confirm",
    "receiving", "wait for release confirm", "wait for RT-CLOSE response", "recovering",
    "wait for recovery", "closed",
};

typedef struct evargs {
    const x400i_rtse_lind *l;
    int accept, reason, priority;
    const uint8_t *ud;
    size_t len;
    x400_rtse_priority prio;
    uint64_t tid;
} evargs;

/* Internal result of an action: a request's predicate failed (diag set). */
#define REFUSE 1

enum {
    A_NONE = 0, A_OPEN_REQ, A_OPEN_RSP, A_TRANSFER_REQ, A_TURN_PLEASE_REQ, A_TURN_GIVE_REQ, A_CLOSE_REQ,
    A_CLOSE_RSP, A_U_ABORT_REQ, A_CONNECT, A_CONNECT_CONF, A_DATA, A_MINOR, A_MINOR_CONF, A_ACT_START,
    A_ACT_RESUME, A_ACT_INTERRUPT, A_ACT_DISCARD, A_ACT_END, A_ACT_END_CONF, A_TOKEN_PLEASE,
    A_CONTROL_GIVE, A_RELEASE, A_RELEASE_CONF, A_PEER_ABORT, A_PROVIDER_ABORT, A_IGNORE,
    A_T_TRANSFER, A_T_RECOVERY, A_T_RETRY, A_T_RECORD, A_RECOVERY_REFUSED, A_COUNT
};

typedef struct cell { uint8_t act; int8_t next; } cell;
#define KEEP (-1)
#define C(a, n) { A_##a, n }
#define S(x) X400I_RTSE_ST_##x

/* One row per state; an empty cell is an invalid intersection: a user
 * request is refused (X400_ERR_STATE), an event from below is a protocol
 * error (RTAB protocolError), a timer is ignored. */
static const cell table[X400I_RTSE_ST_COUNT][EV_COUNT] = {
    [S(IDLE)] = {
        [EV_OPEN_REQ] = C(OPEN_REQ, S(WAIT_OPEN_CONF)),
        [EVL(CONNECT)] = C(CONNECT, KEEP),
        [EVL(P_ABORT)] = C(IGNORE, KEEP),
        [EV_T_RECOVERY] = C(T_RECOVERY, S(CLOSED)),
    },
    [S(WAIT_OPEN_CONF)] = {
        [EVL(CONNECT_CONF)] = C(CONNECT_CONF, KEEP),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EVL(U_ABORT)] = C(PEER_ABORT, S(CLOSED)),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, KEEP),
    },
    [S(WAIT_OPEN_RSP)] = {
        [EV_OPEN_RSP] = C(OPEN_RSP, KEEP),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EVL(U_ABORT)] = C(PEER_ABORT, S(CLOSED)),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, KEEP),
    },
    [S(OPEN)] = {
        [EV_TRANSFER_REQ] = C(TRANSFER_REQ, S(SENDING)),
        [EV_TURN_PLEASE_REQ] = C(TURN_PLEASE_REQ, KEEP),
        [EV_TURN_GIVE_REQ] = C(TURN_GIVE_REQ, KEEP),
        [EV_CLOSE_REQ] = C(CLOSE_REQ, S(WAIT_CLOSE_CONF)),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EVL(ACT_START)] = C(ACT_START, S(RECEIVING)),
        [EVL(ACT_RESUME)] = C(ACT_RESUME, S(RECEIVING)),
        [EVL(TOKEN_PLEASE)] = C(TOKEN_PLEASE, KEEP),
        [EVL(CONTROL_GIVE)] = C(CONTROL_GIVE, KEEP),
        [EVL(RELEASE)] = C(RELEASE, S(WAIT_CLOSE_RSP)),
        [EVL(U_ABORT)] = C(PEER_ABORT, S(CLOSED)),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, KEEP),
        [EV_T_RECORD] = C(T_RECORD, KEEP),
    },
    [S(SENDING)] = {
        [EVL(MINOR_SYNC_CONF)] = C(MINOR_CONF, KEEP),
        [EVL(TOKEN_PLEASE)] = C(TOKEN_PLEASE, KEEP),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EVL(U_ABORT)] = C(PEER_ABORT, S(CLOSED)),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, KEEP),
        [EV_T_TRANSFER] = C(T_TRANSFER, S(CLOSED)),
    },
    [S(WAIT_END_CONF)] = {
        [EVL(ACT_END_CONF)] = C(ACT_END_CONF, S(OPEN)),
        [EVL(MINOR_SYNC_CONF)] = C(MINOR_CONF, KEEP),
        [EVL(TOKEN_PLEASE)] = C(TOKEN_PLEASE, KEEP),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EVL(U_ABORT)] = C(PEER_ABORT, S(CLOSED)),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, KEEP),
        [EV_T_TRANSFER] = C(T_TRANSFER, S(CLOSED)),
    },
    [S(RECEIVING)] = {
        [EVL(DATA)] = C(DATA, KEEP),
        [EVL(MINOR_SYNC)] = C(MINOR, KEEP),
        [EVL(ACT_END)] = C(ACT_END, S(OPEN)),
        [EVL(ACT_INTERRUPT)] = C(ACT_INTERRUPT, S(OPEN)),
        [EVL(ACT_DISCARD)] = C(ACT_DISCARD, S(OPEN)),
        [EV_TURN_PLEASE_REQ] = C(TURN_PLEASE_REQ, KEEP),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EVL(U_ABORT)] = C(PEER_ABORT, S(CLOSED)),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, KEEP),
    },
    [S(WAIT_CLOSE_CONF)] = {
        [EVL(RELEASE_CONF)] = C(RELEASE_CONF, S(CLOSED)),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EVL(U_ABORT)] = C(PEER_ABORT, S(CLOSED)),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, KEEP),
    },
    [S(WAIT_CLOSE_RSP)] = {
        [EV_CLOSE_RSP] = C(CLOSE_RSP, S(CLOSED)),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EVL(U_ABORT)] = C(PEER_ABORT, S(CLOSED)),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, KEEP),
    },
    [S(RECOVERING)] = {
        [EVL(CONNECT_CONF)] = C(CONNECT_CONF, KEEP),
        [EVL(U_ABORT)] = C(RECOVERY_REFUSED, S(CLOSED)),
        [EVL(P_ABORT)] = C(PROVIDER_ABORT, KEEP),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EV_T_RETRY] = C(T_RETRY, KEEP),
        [EV_T_RECOVERY] = C(T_RECOVERY, S(CLOSED)),
        [EV_T_TRANSFER] = C(T_TRANSFER, S(CLOSED)),
    },
    [S(WAIT_RECOVERY)] = {
        [EVL(CONNECT)] = C(CONNECT, KEEP),
        [EVL(P_ABORT)] = C(IGNORE, KEEP),
        [EV_U_ABORT_REQ] = C(U_ABORT_REQ, S(CLOSED)),
        [EV_T_RECOVERY] = C(T_RECOVERY, S(CLOSED)),
        [EV_T_TRANSFER] = C(T_TRANSFER, S(CLOSED)),
    },
    [S(CLOSED)] = { [EVL(P_ABORT)] = C(IGNORE, KEEP) },
};

/* ---- small helpers ---------------------------------------------------------- */
static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static int diag(x400i_rtse *r, x400_source src, int code, int reason, const char *fmt, ...) X400I_PRINTF(5, 6);
static int diag(x400i_rtse *r, x400_source src, int code, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(&r->diag, X400_LAYER_RTSE, src, code, reason, fmt, ap);
    va_end(ap);
    x400i_log(r->has_log ? &r->log_copy : NULL, X400_LOG_INFO, X400_LAYER_RTSE, "%s", r->diag.text);
    return code;
}

static int indicate(x400i_rtse *r, x400i_rtse_ind *ind)
{
    int rc = r->cb.indication(r->cb.user, ind);
    if (rc < 0) {
        r->cb_failed = 1;
        r->cb_rc = rc;
    }
    return rc;
}

static void ind_init(x400i_rtse_ind *ind, x400i_rtse_ind_type t)
{
    memset(ind, 0, sizeof *ind);
    ind->type = t;
    ind->reason = -1;
}

const char *x400i_rtse_abort_reason_name(int reason)
{
    static const char *const n[] = { "localSystemProblem", "invalidParameter", "unrecognizedActivity",
                                     "temporaryProblem", "protocolError", "permanentProblem", "userError",
                                     "transferCompleted" };
    return reason >= 0 && reason < (int)X400I_ARRAY_LEN(n) ? n[reason] : NULL;
}

static const char *refuse_reason_name(int reason)
{
    static const char *const n[] = { "rtsBusy", "cannotRecover", "validationFailure",
                                     "unacceptableDialogueMode" };
    return reason >= 0 && reason < (int)X400I_ARRAY_LEN(n) ? n[reason] : "unknown";
}

/* ---- BER helpers ----------------------------------------------------------- */
static size_t put_len(uint8_t *o, uint64_t len)
{
    if (len < 128) { o[0] = (uint8_t)len; return 1; }
    size_t n = 0;
    for (uint64_t v = len; v; v >>= 8) n++;
    o[0] = (uint8_t)(0x80 | n);
    for (size_t i = 0; i < n; i++) o[1 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
    return 1 + n;
}

/* Read a BER length at p[*off] (of n): 1 = definite (*len), 2 = indefinite,
 * 0 = need more octets, -1 = invalid. */
static int get_len(const uint8_t *p, size_t n, size_t *off, uint64_t *len)
{
    if (*off >= n) return 0;
    uint8_t b = p[(*off)++];
    if (b < 0x80) { *len = b; return 1; }
    if (b == 0x80) return 2;
    unsigned k = b & 0x7fu;
    if (k > 8) return -1;
    if (n - *off < k) return 0;
    uint64_t v = 0;
    for (unsigned i = 0; i < k; i++) v = v << 8 | p[(*off)++];
    *len = v;
    return 1;
}

/* Structural BER check before asn1c sees the octets: every length fits in
 * its parent, indefinite lengths only on constructed values and closed by
 * end-of-contents, depth bounded.  asn1c 0.9.28 loops forever on some
 * malformed inputs (found by fuzz_rtse: a SET whose length runs past the
 * buffer around an indefinite CHOICE), so it only gets well-formed TLVs.
 * Returns the octets of the TLV at p, or -1. */
static long ber_tlv_check(const uint8_t *p, size_t n, int depth)
{
    size_t off = 0, len;
    uint8_t t, b;
    if (depth > 24 || n < 2) return -1;
    t = p[off++];
    if ((t & 0x1f) == 0x1f) {
        int k = 0;
        do {
            if (off >= n || ++k > 4) return -1;
        } while (p[off++] & 0x80);
    }
    if (off >= n) return -1;
    b = p[off++];
    if (b == 0x80) {
        if (!(t & 0x20)) return -1;
        for (;;) {
            long sub;
            if (n - off >= 2 && p[off] == 0 && p[off + 1] == 0) return (long)(off + 2);
            if ((sub = ber_tlv_check(p + off, n - off, depth + 1)) < 0) return -1;
            off += (size_t)sub;
        }
    }
    if (b < 0x80) len = b;
    else {
        unsigned k = b & 0x7fu;
        if (k == 0 || k > 4 || n - off < k) return -1;
        len = 0;
        for (unsigned i = 0; i < k; i++) len = len << 8 | p[off++];
    }
    if (len > n - off) return -1;
    if (t & 0x20) {
        size_t end = off + len;
        while (off < end) {
            long sub = ber_tlv_check(p + off, end - off, depth + 1);
            if (sub < 0 || (p[off] == 0 && sub == 2)) return -1;
            off += (size_t)sub;
        }
        return (long)end;
    }
    return (long)(off + len);
}

static int ber_wellformed(const uint8_t *p, size_t n)
{
    return n >= 2 && ber_tlv_check(p, n, 0) == (long)n;
}

static int consume_cb(const void *buf, size_t size, void *key)
{
    return x400i_buf_append(key, buf, size) == 0 ? 0 : -1;
}

static int encode_apdu(x400i_rtse *r, RTSE_apdus_t *a)
{
    x400i_buf_reset(&r->out);
    asn_enc_rval_t er = der_encode(&asn_DEF_RTSE_apdus, a, consume_cb, &r->out);
    if (er.encoded < 0)
        return diag(r, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0, "RTSE APDU does not encode (%s)",
                    er.failed_type ? er.failed_type->name : "?");
    return 0;
}

/* Decode a complete control APDU; *out must be freed with free_apdu(). */
static int decode_apdu(x400i_rtse *r, const uint8_t *p, size_t n, RTSE_apdus_t **out, const char *what)
{
    asn_codec_ctx_t ctx;
    asn_dec_rval_t rv;
    *out = NULL;
    if (n > CTRL_MAX)
        return diag(r, X400_SOURCE_PEER, X400_ERR_LIMIT, 0, "%s of %zu octets exceeds the bound of %u", what, n,
                    CTRL_MAX);
    if (n == 0) return diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "%s: no RTSE APDU", what);
    if (!ber_wellformed(p, n))
        return diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "%s: RTSE APDU does not decode (malformed BER, %zu octets)",
                    what, n);
    memset(&ctx, 0, sizeof ctx);
    ctx.max_stack_size = 32768;
    rv = ber_decode(&ctx, &asn_DEF_RTSE_apdus, (void **)out, p, n);
    if (rv.code != RC_OK || rv.consumed != n) {
        if (*out) ASN_STRUCT_FREE(asn_DEF_RTSE_apdus, *out);
        *out = NULL;
        return diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "%s: RTSE APDU does not decode (%s at octet %zu of %zu)",
                    what, rv.code == RC_WMORE ? "truncated" : "malformed", rv.consumed, n);
    }
    return 0;
}

static void free_apdu(RTSE_apdus_t *a)
{
    if (a) ASN_STRUCT_FREE(asn_DEF_RTSE_apdus, a);
}

static void any_view(ANY_t *a, const uint8_t *p, size_t n)
{
    static const uint8_t null_value[2] = { 0x05, 0x00 };
    if (!n) { p = null_value; n = 2; }
    a->buf = (uint8_t *)(uintptr_t)p; /* encode only: never freed */
    a->size = (int)n;
}

static void ref_to_sci(const x400i_rtse_ref *ref, SessionConnectionIdentifier_t *sci, OCTET_STRING_t *add)
{
    sci->callingSSuserReference.present = CallingSSuserReference_PR_octetString;
    sci->callingSSuserReference.choice.octetString.buf = (uint8_t *)(uintptr_t)ref->calling;
    sci->callingSSuserReference.choice.octetString.size = (int)ref->calling_len;
    sci->commonReference.buf = (uint8_t *)(uintptr_t)ref->common;
    sci->commonReference.size = (int)ref->common_len;
    if (ref->add_len) {
        add->buf = (uint8_t *)(uintptr_t)ref->add;
        add->size = (int)ref->add_len;
        sci->additionalReferenceInformation = add;
    }
}

static int sci_to_ref(const SessionConnectionIdentifier_t *sci, x400i_rtse_ref *ref)
{
    const OCTET_STRING_t *c = sci->callingSSuserReference.present == CallingSSuserReference_PR_t61String
                                  ? &sci->callingSSuserReference.choice.t61String
                                  : &sci->callingSSuserReference.choice.octetString;
    memset(ref, 0, sizeof *ref);
    if (c->size < 0 || (size_t)c->size > sizeof ref->calling || sci->commonReference.size < 0 ||
        (size_t)sci->commonReference.size > sizeof ref->common)
        return -1;
    memcpy(ref->calling, c->buf, (size_t)c->size);
    ref->calling_len = (size_t)c->size;
    memcpy(ref->common, sci->commonReference.buf, (size_t)sci->commonReference.size);
    ref->common_len = (size_t)sci->commonReference.size;
    if (sci->additionalReferenceInformation) {
        const OCTET_STRING_t *a = sci->additionalReferenceInformation;
        if (a->size < 0 || (size_t)a->size > sizeof ref->add) return -1;
        memcpy(ref->add, a->buf, (size_t)a->size);
        ref->add_len = (size_t)a->size;
    }
    return 0;
}

static int ref_eq(const x400i_rtse_ref *a, const x400i_rtse_ref *b)
{
    return a->calling_len == b->calling_len && !memcmp(a->calling, b->calling, a->calling_len) &&
           a->common_len == b->common_len && !memcmp(a->common, b->common, a->common_len) &&
           a->add_len == b->add_len && !memcmp(a->add, b->add, a->add_len);
}

int x400i_rtse_rtorq_recover_ref(const uint8_t *apdu, size_t len, x400i_rtse_ref *ref)
{
    RTSE_apdus_t *a = NULL;
    asn_dec_rval_t rv;
    int rc;
    if (!apdu || len == 0 || len > CTRL_MAX || !ber_wellformed(apdu, len)) return X400_ERR_PARSE;
    rv = ber_decode(NULL, &asn_DEF_RTSE_apdus, (void **)&a, apdu, len);
    if (rv.code != RC_OK || rv.consumed != len || a->present != RTSE_apdus_PR_rtorq_apdu) {
        free_apdu(a);
        return X400_ERR_PARSE;
    }
    if (a->choice.rtorq_apdu.connectionDataRQ.present != ConnectionData_PR_recover) rc = 0;
    else rc = sci_to_ref(&a->choice.rtorq_apdu.connectionDataRQ.choice.recover, ref) == 0 ? 1 : X400_ERR_PARSE;
    free_apdu(a);
    return rc;
}

/* ---- records --------------------------------------------------------------- */
static const uint8_t rec_magic[4] = { 'X', 'R', 'T', 'R' };

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

typedef struct wr { uint8_t *p; size_t n, cap; int bad; } wr;
static void w_bytes(wr *w, const void *p, size_t n)
{
    if (w->bad || w->cap - w->n < n) { w->bad = 1; return; }
    memcpy(w->p + w->n, p, n);
    w->n += n;
}
static void w_u(wr *w, uint64_t v, int octets)
{
    uint8_t b[8];
    for (int i = 0; i < octets; i++) b[i] = (uint8_t)(v >> (8 * (octets - 1 - i)));
    w_bytes(w, b, (size_t)octets);
}
static void w_str(wr *w, const uint8_t *p, size_t n)
{
    w_u(w, n, 1);
    w_bytes(w, p, n);
}
static int r_u(x400i_rd *rd, uint64_t *v, int octets)
{
    const uint8_t *b;
    if (!x400i_rd_bytes(rd, (size_t)octets, &b)) return -1;
    *v = 0;
    for (int i = 0; i < octets; i++) *v = *v << 8 | b[i];
    return 0;
}
static int r_str(x400i_rd *rd, uint8_t *dst, size_t cap, size_t *len)
{
    uint64_t n;
    const uint8_t *b;
    if (r_u(rd, &n, 1) < 0 || n > cap || !x400i_rd_bytes(rd, (size_t)n, &b)) return -1;
    memcpy(dst, b, (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* Record layout (big-endian): magic "XRTR", version, state, saved_ms(8),
 * expires_ms(8), activity id (len + octets), calling/common/additional
 * reference (len + octets each), secured APDV offset(8), APDV total(8),
 * unwrap {raw, hdr_done, hdr_len(2), content_len(8), after, after_seen,
 * hold_need, hold_len, hold[4], delivered(8)}, ring count(1) + entries
 * {serial(4), offset(8)}, CRC-32 of everything before. */
static size_t rec_build(const x400i_rtse *r, uint8_t *buf, size_t cap)
{
    wr w = { buf, 0, cap, 0 };
    const rx_state *x = &r->rx;
    const unwrap *u = &x->uw;
    unsigned first = x->nring > r->window + 1 ? x->nring - (r->window + 1) : 0;
    w_bytes(&w, rec_magic, 4);
    w_u(&w, X400_RTSE_RECORD_VERSION, 1);
    w_u(&w, x->completed && !x->user_holds ? X400_RTSE_RECORD_COMPLETED : X400_RTSE_RECORD_RECEIVING, 1);
    w_u(&w, r->now, 8);
    w_u(&w, r->now + (uint64_t)r->cfg.recovery_timeout_s * 1000u, 8);
    w_str(&w, x->id, x->id_len);
    w_str(&w, r->cur_ref.calling, r->cur_ref.calling_len);
    w_str(&w, r->cur_ref.common, r->cur_ref.common_len);
    w_str(&w, r->cur_ref.add, r->cur_ref.add_len);
    w_u(&w, x->secured, 8);
    w_u(&w, x->total, 8);
    w_u(&w, (uint64_t)u->raw, 1);
    w_u(&w, (uint64_t)u->hdr_done, 1);
    w_u(&w, u->hdr_len, 2);
    w_u(&w, u->content_len, 8);
    w_u(&w, u->after, 1);
    w_u(&w, u->after_seen, 1);
    w_u(&w, u->hold_need, 1);
    w_u(&w, u->hold_len, 1);
    w_bytes(&w, u->hold, 4);
    w_u(&w, u->delivered, 8);
    w_u(&w, x->nring - first, 1);
    for (unsigned i = first; i < x->nring; i++) {
        w_u(&w, x->ring[i].serial, 4);
        w_u(&w, x->ring[i].off, 8);
    }
    if (w.bad) return 0;
    w_u(&w, crc32(buf, w.n), 4);
    return w.bad ? 0 : w.n;
}

/* Parse a record into rx (and ref); *expires. */
static int rec_parse(const uint8_t *p, size_t n, rx_state *x, x400i_rtse_ref *ref, x400_rtse_record_info *info)
{
    x400i_rd rd;
    uint64_t v, ver, st, saved, exp, cnt;
    rx_state tmp;
    x400i_rtse_ref rf;
    unwrap *u = &tmp.uw;
    if (!p) return X400_ERR_INVALID_ARG;
    if (n < 9 || n > X400_RTSE_RECORD_MAX || memcmp(p, rec_magic, 4) != 0) return X400_ERR_CORRUPT;
    x400i_rd_init(&rd, p, n);
    {
        uint32_t want = (uint32_t)p[n - 4] << 24 | (uint32_t)p[n - 3] << 16 | (uint32_t)p[n - 2] << 8 | p[n - 1];
        if (crc32(p, n - 4) != want) return X400_ERR_CORRUPT;
    }
    rd.len = n - 4;
    rd.off = 4;
    memset(&tmp, 0, sizeof tmp);
    memset(&rf, 0, sizeof rf);
    if (r_u(&rd, &ver, 1) < 0) return X400_ERR_CORRUPT;
    if (ver != X400_RTSE_RECORD_VERSION) return X400_ERR_UNSUPPORTED;
    if (r_u(&rd, &st, 1) < 0 || (st != X400_RTSE_RECORD_RECEIVING && st != X400_RTSE_RECORD_COMPLETED) ||
        r_u(&rd, &saved, 8) < 0 || r_u(&rd, &exp, 8) < 0 || r_str(&rd, tmp.id, sizeof tmp.id, &tmp.id_len) < 0 ||
        r_str(&rd, rf.calling, sizeof rf.calling, &rf.calling_len) < 0 ||
        r_str(&rd, rf.common, sizeof rf.common, &rf.common_len) < 0 ||
        r_str(&rd, rf.add, sizeof rf.add, &rf.add_len) < 0 || r_u(&rd, &tmp.secured, 8) < 0 ||
        r_u(&rd, &tmp.total, 8) < 0)
        return X400_ERR_CORRUPT;
    if (r_u(&rd, &v, 1) < 0) return X400_ERR_CORRUPT;
    u->raw = (int)v;
    if (r_u(&rd, &v, 1) < 0) return X400_ERR_CORRUPT;
    u->hdr_done = (int)v;
    if (r_u(&rd, &v, 2) < 0 || v > HDR_MAX) return X400_ERR_CORRUPT;
    u->hdr_len = (size_t)v;
    if (r_u(&rd, &u->content_len, 8) < 0) return X400_ERR_CORRUPT;
    if (r_u(&rd, &v, 1) < 0 || v > 2) return X400_ERR_CORRUPT;
    u->after = (unsigned)v;
    if (r_u(&rd, &v, 1) < 0 || v > u->after) return X400_ERR_CORRUPT;
    u->after_seen = (unsigned)v;
    if (r_u(&rd, &v, 1) < 0 || v > 4) return X400_ERR_CORRUPT;
    u->hold_need = (unsigned)v;
    if (r_u(&rd, &v, 1) < 0 || v > u->hold_need) return X400_ERR_CORRUPT;
    u->hold_len = (unsigned)v;
    {
        const uint8_t *h;
        if (!x400i_rd_bytes(&rd, 4, &h)) return X400_ERR_CORRUPT;
        memcpy(u->hold, h, 4);
    }
    if (r_u(&rd, &u->delivered, 8) < 0 || r_u(&rd, &cnt, 1) < 0 || cnt < 1 || cnt > RING_MAX)
        return X400_ERR_CORRUPT;
    for (unsigned i = 0; i < cnt; i++) {
        uint64_t s, o;
        if (r_u(&rd, &s, 4) < 0 || r_u(&rd, &o, 8) < 0 || o > tmp.secured ||
            (i > 0 && s <= tmp.ring[i - 1].serial))
            return X400_ERR_CORRUPT;
        tmp.ring[i].serial = (uint32_t)s;
        tmp.ring[i].off = o;
    }
    tmp.nring = (unsigned)cnt;
    if (x400i_rd_left(&rd) != 0 || tmp.id_len == 0 || (!u->hdr_done && u->hdr_len != 0)) return X400_ERR_CORRUPT;
    tmp.active = 1;
    tmp.completed = st == X400_RTSE_RECORD_COMPLETED;
    tmp.cur = tmp.secured;
    tmp.expires = exp;
    if (info) {
        memset(info, 0, sizeof *info);
        info->version = (int)ver;
        info->state = (x400_rtse_record_state)st;
        memcpy(info->activity_id, tmp.id, tmp.id_len);
        info->activity_id_len = tmp.id_len;
        memcpy(info->calling_ref, rf.calling, rf.calling_len);
        info->calling_ref_len = rf.calling_len;
        memcpy(info->common_ref, rf.common, rf.common_len);
        info->common_ref_len = rf.common_len;
        memcpy(info->add_ref, rf.add, rf.add_len);
        info->add_ref_len = rf.add_len;
        info->delivered = u->delivered;
        info->last_serial = tmp.ring[tmp.nring - 1].serial;
        info->saved_ms = saved;
        info->expires_ms = exp;
    }
    if (x) {
        x400i_buf keep = x->buf;
        *x = tmp;
        x->buf = keep;
    }
    if (ref) *ref = rf;
    return X400_OK;
}

int x400_rtse_record_info_get(const uint8_t *rec, size_t len, x400_rtse_record_info *info)
{
    return rec_parse(rec, len, NULL, NULL, info);
}

static void persist(x400i_rtse *r)
{
    uint8_t buf[X400_RTSE_RECORD_MAX];
    x400i_rtse_ind ind;
    size_t n = rec_build(r, buf, sizeof buf);
    if (!n) return; /* cannot happen: the layout is bounded */
    ind_init(&ind, X400I_RTSE_PERSIST);
    ind.record = buf;
    ind.record_len = n;
    indicate(r, &ind);
}

static void persist_erase(x400i_rtse *r)
{
    x400i_rtse_ind ind;
    ind_init(&ind, X400I_RTSE_PERSIST);
    indicate(r, &ind);
}

/* ---- configuration ---------------------------------------------------------- */
void x400_rtse_config_default(x400_rtse_config *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->checkpoint_size_kib = 30;
    c->window_size = 5;
    c->recovery_timeout_s = 60;
    c->two_way_alternate = 1;
    c->initial_turn_local = 1;
    c->x410_mode = 0;
    c->application_protocol = 12;
    c->transfer_timeout_s_per_kib[0] = 1000;
    c->transfer_timeout_s_per_kib[1] = 2000;
    c->transfer_timeout_s_per_kib[2] = 3000;
    c->transfer_context_id = 5;
    c->max_apdu_size = 64u << 20;
}

int x400_rtse_config_check(const x400_rtse_config *c)
{
    if (!c || c->checkpoint_size_kib > X400_RTSE_MAX_CHECKPOINT_KIB || c->window_size < 1 ||
        c->window_size > X400_RTSE_MAX_WINDOW || (c->application_protocol != 1 && c->application_protocol != 12) ||
        c->transfer_context_id < 1 || c->transfer_context_id > 127 || c->max_apdu_size == 0)
        return X400_ERR_INVALID_ARG;
    return X400_OK;
}

/* ---- state changes shared by several actions -------------------------------- */
static void rx_reset(x400i_rtse *r)
{
    x400i_buf keep = r->rx.buf;
    x400i_buf_reset(&keep);
    memset(&r->rx, 0, sizeof r->rx);
    r->rx.buf = keep;
}

/* The association is gone (released, aborted, not recoverable): tell the
 * user what happened to a transfer in progress and forget the record. */
static void enter_closed(x400i_rtse *r, int tx_result)
{
    r->end_deferred = 0;
    x400i_rtse_ind ind;
    r->state = X400I_RTSE_ST_CLOSED;
    r->rec_deadline = r->retry_at = NEVER;
    if (r->tx.active) {
        r->tx.active = 0;
        ind_init(&ind, X400I_RTSE_TRANSFER_CONF);
        ind.result = tx_result;
        ind.transfer_id = r->tx.tid;
        ind.diag = &r->diag;
        indicate(r, &ind);
    }
    if (r->rx.active) {
        int completed = r->rx.completed;
        rx_reset(r);
        if (!completed) {
            ind_init(&ind, X400I_RTSE_TRANSFER_ABANDON);
            indicate(r, &ind);
        }
        persist_erase(r);
    }
}

static int send_rtab(x400i_rtse *r, int reason, unsigned reflect, const uint8_t *ud, size_t len)
{
    RTSE_apdus_t a;
    long rs = reason;
    uint8_t bits = (uint8_t)reflect;
    BIT_STRING_t bs;
    ANY_t any;
    memset(&a, 0, sizeof a);
    a.present = RTSE_apdus_PR_rtab_apdu;
    if (reason >= 0) a.choice.rtab_apdu.abortReason = &rs;
    if (reflect) {
        memset(&bs, 0, sizeof bs);
        bs.buf = &bits;
        bs.size = 1;
        a.choice.rtab_apdu.reflectedParameter = &bs;
    }
    if (len) {
        memset(&any, 0, sizeof any);
        any_view(&any, ud, len);
        a.choice.rtab_apdu.userdataAB = &any;
    }
    if (encode_apdu(r, &a) < 0) return X400_ERR_INVALID_ARG;
    return r->lo.u_abort_req(r->lo.user, r->out.p, r->out.len);
}

/* RTSE detected an error (by the peer, or a local failure): RTAB to the
 * peer, RT-P-ABORT to the user, closed.  Diag already set; returns code. */
static int rtse_abort(x400i_rtse *r, int abort_reason, unsigned reflect, int code)
{
    x400i_rtse_ind ind;
    x400_diag d = r->diag;
    int st = r->ev_state;
    int connected = st != X400I_RTSE_ST_RECOVERING && st != X400I_RTSE_ST_WAIT_RECOVERY &&
                    st != X400I_RTSE_ST_IDLE && st != X400I_RTSE_ST_CLOSED;
    if (st == X400I_RTSE_ST_RECOVERING && r->connecting) connected = 1;
    r->state = X400I_RTSE_ST_CLOSED;
    if (connected) (void)send_rtab(r, abort_reason, reflect, NULL, 0);
    r->diag = d;
    enter_closed(r, code == X400_ERR_TIMEOUT ? X400_ERR_TIMEOUT : X400_ERR_ABORTED);
    ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.reason = abort_reason;
    ind.diag = &r->diag;
    indicate(r, &ind);
    return code;
}

static int peer_error(x400i_rtse *r, int abort_reason, unsigned reflect, int code, const char *fmt, ...)
    X400I_PRINTF(5, 6);
static int peer_error(x400i_rtse *r, int abort_reason, unsigned reflect, int code, const char *fmt, ...)
{
    va_list ap;
    char text[X400_DIAG_TEXT_MAX - 64];
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    diag(r, X400_SOURCE_PEER, code, abort_reason, "%s: RTAB %s sent", text,
         x400i_rtse_abort_reason_name(abort_reason));
    return rtse_abort(r, abort_reason, reflect, code);
}

/* X.228 recovery applies when checkpointing is in use and the association
 * was established (not being released). */
static int recovery_possible(const x400i_rtse *r)
{
    int st = r->state;
    return r->cp_kib > 0 && (st == X400I_RTSE_ST_OPEN || st == X400I_RTSE_ST_SENDING ||
                             st == X400I_RTSE_ST_WAIT_END_CONF || st == X400I_RTSE_ST_RECEIVING);
}

static void try_connect(x400i_rtse *r);

/* The connection is lost (provider abort or a failing lower service). */
static int connection_lost(x400i_rtse *r, const x400_diag *why)
{
    x400i_rtse_ind ind;
    if (why) r->diag = *why;
    else diag(r, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, 0, "connection lost");
    if (r->state == X400I_RTSE_ST_RECOVERING) { /* this attempt failed */
        r->connecting = 0;
        r->retry_at = min64(r->now + RETRY_MS, r->rec_deadline);
        return X400_OK;
    }
    r->end_deferred = 0; /* the activity end it answered went with the connection */
    if (recovery_possible(r)) {
        if (r->state == X400I_RTSE_ST_RECEIVING || r->state == X400I_RTSE_ST_OPEN) {
            /* drop what was not confirmed */
            x400i_buf_reset(&r->rx.buf);
            r->rx.cur = r->rx.secured;
        }
        r->lost_ref = r->cur_ref;
        r->have_lost_ref = 1;
        r->rec_deadline = r->now + (uint64_t)r->cfg.recovery_timeout_s * 1000u;
        r->state = r->initiator ? X400I_RTSE_ST_RECOVERING : X400I_RTSE_ST_WAIT_RECOVERY;
        ind_init(&ind, X400I_RTSE_RECOVERING_IND);
        ind.diag = &r->diag;
        indicate(r, &ind);
        if (r->initiator && r->state == X400I_RTSE_ST_RECOVERING) try_connect(r);
        return X400_OK;
    }
    enter_closed(r, X400_ERR_ABORTED);
    ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.diag = &r->diag;
    indicate(r, &ind);
    return X400_OK;
}

static int lower_failed(x400i_rtse *r, const char *what, int rc)
{
    x400_diag d;
    x400i_diag_set(&d, X400_LAYER_RTSE, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, rc,
                   "%s failed below RTSE (%d): connection lost", what, rc);
    if (r->state == X400I_RTSE_ST_CLOSED || r->state == X400I_RTSE_ST_WAIT_RECOVERY) return X400_OK;
    if (r->state == X400I_RTSE_ST_RECOVERING && !r->connecting) return X400_OK; /* already handled */
    connection_lost(r, &d);
    return X400_OK;
}

/* ---- RTORQ / RTOAC ------------------------------------------------------------ */
static int build_rtorq(x400i_rtse *r, int recover)
{
    RTSE_apdus_t a;
    RTORQapdu_t *q = &a.choice.rtorq_apdu;
    long cp = r->cfg.checkpoint_size_kib, win = r->cfg.window_size, dm = r->cfg.two_way_alternate ? 1 : 0,
         ap = r->cfg.application_protocol;
    OCTET_STRING_t add;
    memset(&a, 0, sizeof a);
    memset(&add, 0, sizeof add);
    a.present = RTSE_apdus_PR_rtorq_apdu;
    if (cp) {
        q->checkpointSize = &cp;
        if (win != 3) q->windowSize = &win; /* X.228 default 3 */
    }
    q->dialogueMode = &dm; /* sent explicitly, as production MTAs do */
    if (r->x410) q->applicationProtocol = &ap;
    if (recover) {
        q->connectionDataRQ.present = ConnectionData_PR_recover;
        ref_to_sci(&r->lost_ref, &q->connectionDataRQ.choice.recover, &add);
    } else {
        q->connectionDataRQ.present = ConnectionData_PR_open;
        any_view(&q->connectionDataRQ.choice.open, r->open_ud, r->open_ud_len);
    }
    return encode_apdu(r, &a);
}

static int build_rtoac(x400i_rtse *r, const uint8_t *ud, size_t len, const x400i_rtse_ref *recover)
{
    RTSE_apdus_t a;
    RTOACapdu_t *c = &a.choice.rtoac_apdu;
    long cp = r->cp_kib, win = r->window;
    OCTET_STRING_t add;
    memset(&a, 0, sizeof a);
    memset(&add, 0, sizeof add);
    a.present = RTSE_apdus_PR_rtoac_apdu;
    if (cp) {
        c->checkpointSize = &cp;
        if (win != 3) c->windowSize = &win;
    }
    if (recover) {
        c->connectionDataAC.present = ConnectionData_PR_recover;
        ref_to_sci(recover, &c->connectionDataAC.choice.recover, &add);
    } else {
        c->connectionDataAC.present = ConnectionData_PR_open;
        any_view(&c->connectionDataAC.choice.open, ud, len);
    }
    return encode_apdu(r, &a);
}

static int build_rtorj(x400i_rtse *r, int reason, const uint8_t *ud, size_t len)
{
    RTSE_apdus_t a;
    long rs = reason;
    ANY_t any;
    memset(&a, 0, sizeof a);
    memset(&any, 0, sizeof any);
    a.present = RTSE_apdus_PR_rtorj_apdu;
    if (reason >= 0) a.choice.rtorj_apdu.refuseReason = &rs;
    if (len) {
        any_view(&any, ud, len);
        a.choice.rtorj_apdu.userDataRJ = &any;
    }
    return encode_apdu(r, &a);
}

/* An RTORQ refused before the connection exists (RT-OPEN indication,
 * X.228 9.1): no RTAB can go on a connection that is not there, so the
 * refusal itself answers the peer's connect -- RTORJ in the AARE- of a CPR
 * (normal mode) or as the CPR of an RF (X.410-1984 mode) -- and the
 * connection closes cleanly; RT-P-ABORT to the user.  rj < 0: no
 * refuseReason.  Returns code. */
static int refuse_rtorq(x400i_rtse *r, int rj, int code, const char *fmt, ...) X400I_PRINTF(4, 5);
static int refuse_rtorq(x400i_rtse *r, int rj, int code, const char *fmt, ...)
{
    va_list ap;
    char text[X400_DIAG_TEXT_MAX - 64];
    x400i_rtse_ind ind;
    x400_diag d;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    diag(r, X400_SOURCE_PEER, code, rj, "%s: RTORJ %s sent", text, rj < 0 ? "without reason" : refuse_reason_name(rj));
    d = r->diag;
    if (build_rtorj(r, rj, NULL, 0) == 0) (void)r->lo.connect_rsp(r->lo.user, 0, r->out.p, r->out.len);
    r->diag = d;
    enter_closed(r, X400_ERR_ABORTED);
    ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.diag = &r->diag;
    indicate(r, &ind);
    return code;
}

/* Validate the RTORQ fields and negotiate (X.228: the smaller checkpoint
 * size and window size; 0 = no checkpointing).  0, or the RTORQ is
 * refused (RTORJ) and the error returned. */
static int negotiate_rtorq(x400i_rtse *r, const RTORQapdu_t *q)
{
    long cp = q->checkpointSize ? *q->checkpointSize : 0;
    long win = q->windowSize ? *q->windowSize : 3;
    long dm = q->dialogueMode ? *q->dialogueMode : 0;
    if (cp < 0)
        return refuse_rtorq(r, RJ_VALIDATION, X400_ERR_PROTOCOL, "RTORQ checkpointSize %ld is negative", cp);
    if (win < 1)
        return refuse_rtorq(r, RJ_VALIDATION, X400_ERR_PROTOCOL, "RTORQ windowSize %ld is below 1", win);
    if (dm != 0 && dm != 1)
        return refuse_rtorq(r, RJ_DIALOGUE_MODE, X400_ERR_PROTOCOL,
                            "RTORQ dialogueMode %ld is neither monologue(0) nor twa(1)", dm);
    if (q->applicationProtocol && *q->applicationProtocol != 1 && *q->applicationProtocol != 12)
        /* Lenient: P1 is the only protocol served here, and ISODE/PP sends
         * 1 in host byte order (256 on little-endian hosts) in X.410-1984
         * mode.  Logged, taken as P1. */
        x400i_log(r->has_log ? &r->log_copy : NULL, X400_LOG_NOTICE, X400_LAYER_RTSE,
                  "RTORQ applicationProtocol %ld is neither 1 nor 12: taken as P1, the only protocol served",
                  *q->applicationProtocol);
    r->cp_kib = (cp == 0 || r->cfg.checkpoint_size_kib == 0) ? 0
                : (uint32_t)min64((uint64_t)cp, r->cfg.checkpoint_size_kib);
    r->window = (uint32_t)min64((uint64_t)win, r->cfg.window_size);
    r->twa = (int)dm;
    return 0;
}

/* ---- sender ----------------------------------------------------------------- */
static void new_activity_id(x400i_rtse *r, uint8_t id[6], size_t *len)
{
    /* the octets of a small INTEGER, as production MTAs do */
    uint32_t v = ++r->next_act;
    size_t n = v < 0x80 ? 1 : v < 0x8000 ? 2 : v < 0x800000 ? 3 : 4;
    for (size_t i = 0; i < n; i++) id[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    *len = n;
}

static size_t build_apdv_header(const x400i_rtse *r, uint8_t *h, uint64_t content)
{
    /* EXTERNAL { indirect-reference ctx, encoding single-ASN1-type [0] } */
    uint8_t inner[12];
    size_t n = 0, in = 0;
    if (r->x410) return 0;
    inner[in++] = 0x02;
    inner[in++] = 0x01;
    inner[in++] = (uint8_t)r->cfg.transfer_context_id;
    inner[in++] = 0xa0;
    in += put_len(inner + in, content);
    h[n++] = 0x28;
    n += put_len(h + n, in + content);
    memcpy(h + n, inner, in);
    return n + in;
}

static int send_piece(x400i_rtse *r, uint64_t from, uint64_t to)
{
    tx_state *t = &r->tx;
    uint8_t th[10];
    size_t thn = 0, need;
    int rc;
    if (!r->x410) {
        /* normal mode: RTTRapdu ::= OCTET STRING; X.410-1984 mode: the APDV
         * octets themselves are the session user data (X.410 (1984), as
         * ISODE's RTS over session sends them) */
        th[thn++] = 0x04;
        thn += put_len(th + thn, to - from);
    }
    need = thn + (size_t)(to - from);
    x400i_buf_reset(&r->out);
    if ((rc = x400i_buf_reserve(&r->out, need)) < 0)
        return diag(r, X400_SOURCE_LOCAL, rc, 0, "no memory for an RTTR of %zu octets", need);
    memcpy(r->out.p, th, thn);
    r->out.len = thn;
    if (from < t->hdr_len) {
        size_t k = (size_t)(min64(to, t->hdr_len) - from);
        memcpy(r->out.p + r->out.len, t->hdr + from, k);
        r->out.len += k;
        from += k;
    }
    if (to > from) {
        memcpy(r->out.p + r->out.len, t->apdu + (from - t->hdr_len), (size_t)(to - from));
        r->out.len += (size_t)(to - from);
    }
    rc = r->lo.data_req(r->lo.user, r->out.p, r->out.len);
    if (rc < 0) return lower_failed(r, "P-DATA (RTTR)", rc), 1;
    return 0;
}

/* Send what the window allows; end the activity when all is sent. */
static int send_more(x400i_rtse *r)
{
    tx_state *t = &r->tx;
    uint64_t cpb = (uint64_t)r->cp_kib * 1024u;
    int rc;
    while (r->state == X400I_RTSE_ST_SENDING && !t->ended) {
        if (t->off < t->total) {
            uint64_t end;
            if (cpb && t->nring >= r->window) return 0; /* window full */
            end = min64(t->off + (cpb ? cpb : PIECE_MAX), t->total);
            if ((rc = send_piece(r, t->off, end)) != 0) return rc < 0 ? rc : 0;
            r->bytes_sent += end - t->off;
            t->off = end;
            if (cpb && t->off < t->total) {
                uint32_t serial = 0;
                /* P-SYNC-MINOR request after each checkpoint, X.228 9.5 */
                rc = r->lo.minor_sync_req(r->lo.user, &serial);
                if (rc < 0) return lower_failed(r, "P-SYNC-MINOR request", rc);
                t->ring[t->nring].serial = serial;
                t->ring[t->nring].off = t->off;
                t->nring++;
            }
            continue;
        }
        {
            uint32_t serial = 0;
            /* P-ACTIVITY-END request: the APDV is complete */
            t->ended = 1;
            r->state = X400I_RTSE_ST_WAIT_END_CONF;
            rc = r->lo.activity_end_req(r->lo.user, &serial);
            if (rc < 0) return lower_failed(r, "P-ACTIVITY-END request", rc);
        }
    }
    return 0;
}

/* Sender resumes after recovery: P-ACTIVITY-RESUME linked to the old
 * activity and the last confirmed checkpoint, X.228 9.7. */
static int resume_sending(x400i_rtse *r)
{
    tx_state *t = &r->tx;
    uint8_t id[6];
    size_t id_len;
    int rc;
    new_activity_id(r, id, &id_len);
    r->state = X400I_RTSE_ST_SENDING;
    rc = r->lo.activity_resume_req(r->lo.user, id, id_len, t->id, t->id_len, t->conf_serial, &r->lost_ref);
    if (rc < 0) return lower_failed(r, "P-ACTIVITY-RESUME request", rc);
    memcpy(t->id, id, id_len);
    t->id_len = id_len;
    t->off = t->conf_off;
    t->nring = 0;
    t->ended = 0;
    return send_more(r);
}

/* ---- receiver: APDV unwrapping ------------------------------------------------- */
static int deliver(x400i_rtse *r, const uint8_t *p, size_t n)
{
    x400i_rtse_ind ind;
    if (!n) return 0;
    ind_init(&ind, X400I_RTSE_TRANSFER_DATA);
    ind.offset = r->rx.uw.delivered;
    ind.data = p;
    ind.data_len = n;
    r->rx.uw.delivered += n;
    indicate(r, &ind);
    return r->cb_failed ? -1 : 0;
}

/* Parse the EXTERNAL header: 1 done, 0 need more, -1 invalid (diag). */
static int uw_header(x400i_rtse *r)
{
    unwrap *u = &r->rx.uw;
    size_t off = 0;
    uint64_t len;
    int outer, k;
    if (u->hdr_have < 1) return 0;
    if (u->hdr[0] != 0x28) {
        diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "APDV starts with tag 0x%02x, not EXTERNAL (0x28)", u->hdr[0]);
        return -1;
    }
    off = 1;
    if ((outer = get_len(u->hdr, u->hdr_have, &off, &len)) <= 0) goto more_or_bad;
    for (;;) {
        uint8_t tag;
        if (off >= u->hdr_have) goto need;
        tag = u->hdr[off];
        if (tag == 0x06 || tag == 0x02 || tag == 0x07) { /* references, descriptor */
            size_t o2 = off + 1;
            uint64_t l2;
            k = get_len(u->hdr, u->hdr_have, &o2, &l2);
            if (k == 0) goto need;
            if (k != 1 || l2 > HDR_MAX) goto bad;
            if (u->hdr_have - o2 < l2) goto need;
            off = o2 + (size_t)l2;
            continue;
        }
        if (tag == 0xa0 || tag == 0x81) { /* single-ASN1-type [0] / octet-aligned [1] */
            size_t o2 = off + 1;
            k = get_len(u->hdr, u->hdr_have, &o2, &len);
            if (k == 0) goto need;
            if (k < 0 || (k == 2 && tag == 0x81)) goto bad;
            u->hdr_len = o2;
            u->hdr_done = 1;
            if (k == 1) {
                u->content_len = len;
                u->after = outer == 2 ? 2 : 0;
            } else {
                u->content_len = NEVER;
                u->hold_need = 2 + (outer == 2 ? 2u : 0u);
            }
            return 1;
        }
        goto bad;
    }
more_or_bad:
    if (outer == 0) goto need;
bad:
    diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
         "APDV is not an EXTERNAL with single-ASN1-type or octet-aligned encoding");
    return -1;
need:
    if (u->hdr_have >= HDR_MAX) goto bad;
    return 0;
}

/* Feed secured APDV octets (in order) to the user, unwrapped. */
static int uw_feed(x400i_rtse *r, const uint8_t *p, size_t n)
{
    unwrap *u = &r->rx.uw;
    if (u->raw) return deliver(r, p, n);
    while (n && !u->hdr_done) {
        size_t k = (size_t)min64(n, HDR_MAX - u->hdr_have);
        int rc;
        memcpy(u->hdr + u->hdr_have, p, k);
        u->hdr_have += k;
        rc = uw_header(r);
        if (rc < 0) return -1;
        p += k;
        n -= k;
        if (rc == 0) continue;
        /* octets of this chunk beyond the header are content */
        {
            size_t extra = u->hdr_have - u->hdr_len;
            uint8_t tmp[HDR_MAX];
            memcpy(tmp, u->hdr + u->hdr_len, extra);
            u->hdr_have = u->hdr_len;
            if (extra && uw_feed(r, tmp, extra) < 0) return -1;
        }
    }
    if (!n) return 0;
    if (u->content_len != NEVER) {
        uint64_t left = u->content_len - u->delivered;
        size_t k = (size_t)min64(left, n);
        if (deliver(r, p, k) < 0) return -1;
        p += k;
        n -= k;
        for (size_t i = 0; i < n; i++) {
            if (u->after_seen >= u->after || p[i] != 0) {
                diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "octets after the end of the APDV's EXTERNAL");
                return -1;
            }
            u->after_seen++;
        }
        return 0;
    }
    /* indefinite: hold back the last hold_need octets (the EOCs) */
    {
        size_t total = u->hold_len + n;
        if (total <= u->hold_need) {
            memcpy(u->hold + u->hold_len, p, n);
            u->hold_len += (unsigned)n;
            return 0;
        }
        size_t out = total - u->hold_need; /* octets that are surely content */
        size_t from_hold = out < u->hold_len ? out : u->hold_len;
        if (deliver(r, u->hold, from_hold) < 0) return -1;
        memmove(u->hold, u->hold + from_hold, u->hold_len - from_hold);
        u->hold_len -= (unsigned)from_hold;
        out -= from_hold;
        if (deliver(r, p, out) < 0) return -1;
        p += out;
        n -= out;
        memcpy(u->hold + u->hold_len, p, n);
        u->hold_len += (unsigned)n;
        return 0;
    }
}

static int uw_finish(x400i_rtse *r)
{
    unwrap *u = &r->rx.uw;
    if (u->raw) return 0;
    if (!u->hdr_done) {
        diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "APDV ended inside its EXTERNAL header (%zu octets)",
             u->hdr_have);
        return -1;
    }
    if (u->content_len != NEVER) {
        if (u->delivered != u->content_len || u->after_seen != u->after) {
            diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "APDV ended after %llu of %llu content octets",
                 (unsigned long long)u->delivered, (unsigned long long)u->content_len);
            return -1;
        }
        return 0;
    }
    for (unsigned i = 0; i < u->hold_len; i++)
        if (u->hold[i]) goto bad;
    if (u->hold_len == u->hold_need) return 0;
bad:
    diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "APDV with indefinite length does not end with end-of-contents");
    return -1;
}

/* Secure the octets received since the last checkpoint. */
static int rx_secure(x400i_rtse *r)
{
    rx_state *x = &r->rx;
    if (x->buf.len) {
        if (uw_feed(r, x->buf.p, x->buf.len) < 0) return -1;
        x400i_buf_reset(&x->buf);
    }
    if (x->cur > x->secured) x->secured = x->cur;
    return 0;
}

static void ring_add(ckpt *ring, unsigned *n, uint32_t serial, uint64_t off)
{
    while (*n && ring[*n - 1].serial >= serial) (*n)--;
    if (*n == RING_MAX) {
        memmove(ring, ring + 1, (RING_MAX - 1) * sizeof *ring);
        (*n)--;
    }
    ring[*n].serial = serial;
    ring[*n].off = off;
    (*n)++;
}

static void rx_start(x400i_rtse *r, const uint8_t *id, size_t id_len)
{
    rx_state *x = &r->rx;
    rx_reset(r);
    x->active = 1;
    memcpy(x->id, id, id_len);
    x->id_len = id_len;
    x->uw.raw = r->x410;
    x->uw.content_len = NEVER;
    x->ring[0].serial = 0;
    x->ring[0].off = 0;
    x->nring = 1;
}

/* ---- actions ---------------------------------------------------------------- */
typedef int (*action_fn)(x400i_rtse *r, const evargs *a);

static int refuse(x400i_rtse *r, const char *ev, const char *why)
{
    diag(r, X400_SOURCE_LOCAL, X400_ERR_STATE, 0, "%s not allowed in state %s: %s: request refused", ev,
         st_names[r->ev_state], why);
    return REFUSE;
}

static int act_open_req(x400i_rtse *r, const evargs *a)
{
    int rc;
    if (!r->initiator) return refuse(r, ev_names[EV_OPEN_REQ], "this RTSE is the association-responder");
    x400i_free(r->alloc, r->open_ud);
    r->open_ud = NULL;
    r->open_ud_len = 0;
    if (a->len) {
        if (!(r->open_ud = x400i_malloc(r->alloc, a->len)))
            return diag(r, X400_SOURCE_LOCAL, X400_ERR_NOMEM, 0, "no memory"), REFUSE;
        memcpy(r->open_ud, a->ud, a->len);
        r->open_ud_len = a->len;
    }
    if (build_rtorq(r, 0) < 0) return REFUSE;
    /* RT-OPEN request -> A-ASSOCIATE / P-CONNECT request, X.228 9.1 */
    rc = r->lo.connect_req(r->lo.user, r->cfg.two_way_alternate ? !!r->cfg.initial_turn_local : 1, r->out.p,
                           r->out.len);
    if (rc < 0) {
        diag(r, X400_SOURCE_PROVIDER, X400_ERR_ABORTED, rc, "connect request failed below RTSE (%d)", rc);
        r->state = X400I_RTSE_ST_CLOSED;
        return X400_ERR_ABORTED;
    }
    return 0;
}

static int act_connect(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    const x400i_rtse_lind *l = a->l;
    int rc;
    int x410 = l->mode == X400I_RTSE_MODE_CONFIGURED ? r->x410 : l->mode == X400I_RTSE_MODE_X410;
    if ((rc = decode_apdu(r, l->apdu, l->apdu_len, &ap, "connect indication")) < 0) {
        char text[X400_DIAG_TEXT_MAX];
        snprintf(text, sizeof text, "%s", r->diag.text);
        return refuse_rtorq(r, -1, rc, "%s", text);
    }
    if (ap->present != RTSE_apdus_PR_rtorq_apdu) {
        free_apdu(ap);
        return refuse_rtorq(r, -1, X400_ERR_PROTOCOL, "connect indication carries no RTORQ");
    }
    const RTORQapdu_t *q = &ap->choice.rtorq_apdu;
    if (q->connectionDataRQ.present == ConnectionData_PR_recover) {
        x400i_rtse_ref ref;
        int waiting = r->state == X400I_RTSE_ST_WAIT_RECOVERY || (r->state == X400I_RTSE_ST_IDLE && r->restored);
        if (sci_to_ref(&q->connectionDataRQ.choice.recover, &ref) < 0 || !waiting || !r->have_lost_ref ||
            !ref_eq(&ref, &r->lost_ref) || x410 != r->x410) {
            free_apdu(ap);
            /* RTORJ cannotRecover: nothing of that connection is kept here */
            diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, RJ_CANNOT_RECOVER,
                 "RTORQ recover for a connection this RTSE does not wait for: RTORJ cannotRecover sent");
            if (build_rtorj(r, RJ_CANNOT_RECOVER, NULL, 0) == 0)
                (void)r->lo.connect_rsp(r->lo.user, 0, r->out.p, r->out.len);
            if (r->state == X400I_RTSE_ST_IDLE) r->state = X400I_RTSE_ST_CLOSED;
            return X400_ERR_REFUSED;
        }
        rc = negotiate_rtorq(r, q);
        free_apdu(ap);
        if (rc < 0) return rc;
        if (l->ref) r->cur_ref = *l->ref;
        r->turn = l->turn;
        if (build_rtoac(r, NULL, 0, &ref) < 0) return rtse_abort(r, AR_LOCAL, 0, X400_ERR_INTERNAL);
        r->state = X400I_RTSE_ST_OPEN;
        r->rec_deadline = NEVER;
        r->restored = 0;
        rc = r->lo.connect_rsp(r->lo.user, 1, r->out.p, r->out.len);
        if (rc < 0) return lower_failed(r, "connect response", rc);
        {
            x400i_rtse_ind ind;
            ind_init(&ind, X400I_RTSE_RECOVERED_IND);
            indicate(r, &ind);
        }
        if (r->tx.active) {
            if (!r->turn)
                return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                  "connection recovered without the turn for the interrupted transfer");
            return resume_sending(r);
        }
        return 0;
    }
    if (r->state != X400I_RTSE_ST_IDLE || r->restored) {
        free_apdu(ap);
        diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, RJ_BUSY, "RTORQ open while waiting for a recovery: RTORJ rtsBusy");
        if (build_rtorj(r, RJ_BUSY, NULL, 0) == 0) (void)r->lo.connect_rsp(r->lo.user, 0, r->out.p, r->out.len);
        return X400_ERR_REFUSED;
    }
    r->x410 = x410;     /* the mode this connection runs, whatever was configured */
    if (r->x410 && !q->applicationProtocol) {
        free_apdu(ap);
        return refuse_rtorq(r, RJ_VALIDATION, X400_ERR_PROTOCOL,
                            "RTORQ in X.410-1984 mode without applicationProtocol");
    }
    r->state = X400I_RTSE_ST_WAIT_OPEN_RSP;
    if ((rc = negotiate_rtorq(r, q)) < 0) {
        free_apdu(ap);
        return rc;
    }
    if (l->ref) r->cur_ref = *l->ref;
    r->turn = l->turn;
    {
        x400i_rtse_ind ind;
        ind_init(&ind, X400I_RTSE_OPEN_IND);
        ind.user_data = q->connectionDataRQ.choice.open.buf;
        ind.user_data_len = (size_t)q->connectionDataRQ.choice.open.size;
        indicate(r, &ind);
    }
    free_apdu(ap);
    return 0;
}

static int act_open_rsp(x400i_rtse *r, const evargs *a)
{
    int rc;
    if (a->accept) {
        if (build_rtoac(r, a->ud, a->len, NULL) < 0) return REFUSE;
        r->state = X400I_RTSE_ST_OPEN;
        rc = r->lo.connect_rsp(r->lo.user, 1, r->out.p, r->out.len);
        if (rc < 0) return lower_failed(r, "connect response", rc);
        return 0;
    }
    if (build_rtorj(r, a->reason, a->ud, a->len) < 0) return REFUSE;
    r->state = X400I_RTSE_ST_CLOSED;
    (void)r->lo.connect_rsp(r->lo.user, 0, r->out.p, r->out.len);
    return 0;
}

/* The peer refused the recovery: RF, RTORJ (whatever its reason), or an
 * abort answering the RTORQ recover (ISODE in X.410-1984 mode).  A peer
 * that refused once refuses again, so there are no retries: X.228 leaves
 * the transfer to start again from the beginning, and that should happen
 * at once.  RT-P-ABORT first -- the association is over, the user takes
 * the interrupted APDU to a fresh association -- then the negative
 * RT-TRANSFER confirm.  r->diag says why (logged once). */
static int recovery_refused(x400i_rtse *r)
{
    x400i_rtse_ind ind;
    x400_diag d = r->diag;
    r->state = X400I_RTSE_ST_CLOSED;
    r->connecting = 0;
    r->rec_deadline = r->retry_at = NEVER;
    ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.diag = &r->diag;
    indicate(r, &ind);
    r->diag = d;
    enter_closed(r, X400_ERR_ABORTED);
    return 0;
}

static int act_recovery_refused(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    asn_dec_rval_t rv;
    long reason = -1;
    const x400i_rtse_lind *l = a->l;
    if (l->apdu_len && l->apdu_len <= CTRL_MAX && ber_wellformed(l->apdu, l->apdu_len)) {
        rv = ber_decode(NULL, &asn_DEF_RTSE_apdus, (void **)&ap, l->apdu, l->apdu_len);
        if (rv.code == RC_OK && ap->present == RTSE_apdus_PR_rtab_apdu && ap->choice.rtab_apdu.abortReason)
            reason = *ap->choice.rtab_apdu.abortReason;
        free_apdu(ap);
    }
    diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, (int)reason,
         "RTSE recovery refused by the peer (abort%s%s): the transfer starts again on a new association",
         reason >= 0 ? ", RTAB " : "",
         reason < 0 ? "" : x400i_rtse_abort_reason_name((int)reason) ? x400i_rtse_abort_reason_name((int)reason)
                                                                    : "with an unknown reason");
    return recovery_refused(r);
}

static int act_connect_conf(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    const x400i_rtse_lind *l = a->l;
    x400i_rtse_ind ind;
    int rc, recovering = r->state == X400I_RTSE_ST_RECOVERING;
    r->connecting = 0;
    if (!l->accepted) {
        int reason = -1;
        const ANY_t *ud = NULL;
        if (l->apdu_len && decode_apdu(r, l->apdu, l->apdu_len, &ap, "connect confirm") == 0 &&
            ap->present == RTSE_apdus_PR_rtorj_apdu) {
            if (ap->choice.rtorj_apdu.refuseReason) reason = (int)*ap->choice.rtorj_apdu.refuseReason;
            ud = ap->choice.rtorj_apdu.userDataRJ;
        }
        if (recovering) {
            free_apdu(ap);
            diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, reason,
                 "RTSE recovery refused by the peer (%s%s): the transfer starts again on a new association",
                 l->apdu_len ? "RTORJ " : "connection refused", !l->apdu_len ? ""
                 : reason < 0 ? "without reason" : refuse_reason_name(reason));
            return recovery_refused(r);
        }
        diag(r, X400_SOURCE_PEER, X400_ERR_REFUSED, reason, "RT-OPEN refused by the peer (RTORJ %s)",
             reason < 0 ? "without reason" : refuse_reason_name(reason));
        enter_closed(r, X400_ERR_ABORTED);
        ind_init(&ind, X400I_RTSE_OPEN_CONF);
        ind.reason = reason;
        ind.diag = &r->diag;
        if (ud) {
            ind.user_data = ud->buf;
            ind.user_data_len = (size_t)ud->size;
        }
        indicate(r, &ind);
        free_apdu(ap);
        return 0;
    }
    if ((rc = decode_apdu(r, l->apdu, l->apdu_len, &ap, "connect confirm")) < 0)
        return rtse_abort(r, AR_PROTOCOL, 0, rc);
    if (ap->present != RTSE_apdus_PR_rtoac_apdu) {
        free_apdu(ap);
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "connect confirm carries no RTOAC");
    }
    {
        const RTOACapdu_t *c = &ap->choice.rtoac_apdu;
        long cp = c->checkpointSize ? *c->checkpointSize : 0;
        long win = c->windowSize ? *c->windowSize : 3;
        if (cp < 0 || (uint64_t)cp > r->cfg.checkpoint_size_kib) {
            free_apdu(ap);
            return peer_error(r, AR_INVALID_PARAM, RP_CHECKPOINT, X400_ERR_PROTOCOL,
                              "RTOAC checkpointSize %ld is not between 0 and the proposed %u", cp,
                              r->cfg.checkpoint_size_kib);
        }
        if (win < 1 || (cp && (uint64_t)win > r->cfg.window_size)) {
            free_apdu(ap);
            return peer_error(r, AR_INVALID_PARAM, RP_WINDOW, X400_ERR_PROTOCOL,
                              "RTOAC windowSize %ld is not between 1 and the proposed %u", win, r->cfg.window_size);
        }
        r->cp_kib = (uint32_t)cp;
        r->window = (uint32_t)min64((uint64_t)win, r->cfg.window_size);
        r->twa = r->cfg.two_way_alternate;
        if (l->ref) r->cur_ref = *l->ref;
        r->turn = l->turn;
        r->state = X400I_RTSE_ST_OPEN;
        if (recovering) {
            free_apdu(ap);
            r->rec_deadline = r->retry_at = NEVER;
            ind_init(&ind, X400I_RTSE_RECOVERED_IND);
            indicate(r, &ind);
            if (r->tx.active) {
                if (!r->turn)
                    return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                      "connection recovered without the turn for the interrupted transfer");
                return resume_sending(r);
            }
            return 0;
        }
        ind_init(&ind, X400I_RTSE_OPEN_CONF);
        ind.accepted = 1;
        if (c->connectionDataAC.present == ConnectionData_PR_open) {
            ind.user_data = c->connectionDataAC.choice.open.buf;
            ind.user_data_len = (size_t)c->connectionDataAC.choice.open.size;
        }
        indicate(r, &ind);
    }
    free_apdu(ap);
    return 0;
}

static int act_transfer_req(x400i_rtse *r, const evargs *a)
{
    tx_state *t = &r->tx;
    uint64_t kib, per;
    int rc;
    if (!r->turn) return refuse(r, ev_names[EV_TRANSFER_REQ], "the turn is not held");
    if (r->rx.active && !r->rx.completed)
        return refuse(r, ev_names[EV_TRANSFER_REQ], "an interrupted incoming transfer awaits resumption");
    if ((uint64_t)a->len > r->cfg.max_apdu_size)
        return diag(r, X400_SOURCE_LOCAL, X400_ERR_TOO_LONG, 0, "APDU of %zu octets above the bound", a->len),
               REFUSE;
    if (r->cp_kib && (uint64_t)a->len / ((uint64_t)r->cp_kib * 1024u) >= SERIAL_LIMIT)
        return diag(r, X400_SOURCE_LOCAL, X400_ERR_TOO_LONG, 0, "APDU needs more checkpoints than serial numbers"),
               REFUSE;
    memset(t, 0, sizeof *t);
    t->active = 1;
    t->apdu = a->ud;
    t->len = a->len;
    t->tid = a->tid;
    t->prio = a->prio;
    t->hdr_len = build_apdv_header(r, t->hdr, a->len);
    t->total = t->hdr_len + a->len;
    kib = (a->len + 1023u) / 1024u;
    if (kib == 0) kib = 1;
    per = r->cfg.transfer_timeout_s_per_kib[a->prio];
    t->deadline = per ? r->now + kib * per * 1000u : NEVER;
    new_activity_id(r, t->id, &t->id_len);
    if (r->rx.active) { /* the previous incoming APDU is confirmed: its record goes */
        rx_reset(r);
        persist_erase(r);
    }
    /* RT-TRANSFER: one APDV = one activity, X.228 9.4 */
    rc = r->lo.activity_start_req(r->lo.user, t->id, t->id_len);
    if (rc < 0) return lower_failed(r, "P-ACTIVITY-START request", rc);
    return send_more(r);
}

static int act_minor_conf(x400i_rtse *r, const evargs *a)
{
    tx_state *t = &r->tx;
    unsigned i = 0;
    while (i < t->nring && t->ring[i].serial <= a->l->serial) i++;
    if (i == 0)
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "P-SYNC-MINOR confirm of serial %u not outstanding",
                          a->l->serial);
    t->conf_serial = t->ring[i - 1].serial;
    t->conf_off = t->ring[i - 1].off;
    memmove(t->ring, t->ring + i, (t->nring - i) * sizeof *t->ring);
    t->nring -= i;
    return send_more(r);
}

static int act_act_end_conf(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    r->tx.active = 0;
    ind_init(&ind, X400I_RTSE_TRANSFER_CONF);
    ind.result = X400_OK;
    ind.transfer_id = r->tx.tid;
    r->state = X400I_RTSE_ST_OPEN;
    indicate(r, &ind);
    return 0;
}

static int act_act_start(x400i_rtse *r, const evargs *a)
{
    if (r->turn)
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                          "P-ACTIVITY-START from the peer while this side holds the turn");
    if (r->rx.active && !r->rx.completed)
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                          "P-ACTIVITY-START while an interrupted transfer awaits resumption");
    if (a->l->id_len == 0 || a->l->id_len > 6)
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "activity identifier of %zu octets", a->l->id_len);
    rx_start(r, a->l->id, a->l->id_len); /* a completed one is confirmed: replaced */
    if (r->cp_kib) persist(r);
    return 0;
}

static int act_act_resume(x400i_rtse *r, const evargs *a)
{
    rx_state *x = &r->rx;
    const x400i_rtse_lind *l = a->l;
    if (r->turn)
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                          "P-ACTIVITY-RESUME from the peer while this side holds the turn");
    if (l->id_len == 0 || l->id_len > 6)
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "activity identifier of %zu octets", l->id_len);
    if (!x->active || x->id_len != l->old_id_len || memcmp(x->id, l->old_id, l->old_id_len) != 0) {
        if (l->serial == 0 && !(x->active && !x->completed)) {
            /* nothing of it was confirmed: the same as a fresh start */
            if (x->active) persist_erase(r);
            rx_start(r, l->id, l->id_len);
            return 0;
        }
        return peer_error(r, AR_UNRECOGNIZED_ACT, 0, X400_ERR_PROTOCOL,
                          "P-ACTIVITY-RESUME of an unknown activity (old id of %zu octets, serial %u)",
                          l->old_id_len, l->serial);
    }
    {
        unsigned i;
        for (i = 0; i < x->nring && x->ring[i].serial != l->serial; i++) {}
        if (i == x->nring)
            return peer_error(r, AR_INVALID_PARAM, 0, X400_ERR_PROTOCOL,
                              "P-ACTIVITY-RESUME after serial %u, which this side did not confirm (last %u)",
                              l->serial, x->ring[x->nring - 1].serial);
        /* keep what was confirmed, drop the rest; resent octets below the
         * secured offset are discarded as they arrive */
        x400i_buf_reset(&x->buf);
        x->cur = x->ring[i].off;
        x->nring = i + 1;
        x->skip_all = x->completed;
        memcpy(x->id, l->id, l->id_len);
        x->id_len = l->id_len;
    }
    persist(r); /* the activity now goes by its new identifier */
    return 0;
}

static int act_data(x400i_rtse *r, const evargs *a)
{
    rx_state *x = &r->rx;
    const uint8_t *p = a->l->apdu, *v = NULL;
    size_t n = a->l->apdu_len, off = 1;
    uint64_t len;
    RTSE_apdus_t *ap = NULL;
    int rc = 0;
    if (r->x410) {
        /* X.410-1984 mode: the session user data is the APDV itself */
        v = p;
        len = n;
    } else if (n >= 2 && p[0] == 0x04 && get_len(p, n, &off, &len) == 1 && len == n - off) {
        v = p + off; /* fast path: primitive OCTET STRING, definite length */
    } else {
        if ((rc = decode_apdu(r, p, n, &ap, "P-DATA")) < 0) return rtse_abort(r, AR_PROTOCOL, 0, rc);
        if (ap->present != RTSE_apdus_PR_rttr_apdu) {
            free_apdu(ap);
            return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "P-DATA inside an activity carries no RTTR");
        }
        v = ap->choice.rttr_apdu.buf;
        len = (uint64_t)ap->choice.rttr_apdu.size;
    }
    if (x->cur + len > r->cfg.max_apdu_size + HDR_MAX + 8) {
        free_apdu(ap);
        return peer_error(r, AR_PERMANENT, 0, X400_ERR_LIMIT, "APDV exceeds the bound of %llu octets",
                          (unsigned long long)r->cfg.max_apdu_size);
    }
    {
        /* octets below `secured` were confirmed before: drop them */
        uint64_t skip = x->skip_all ? len : (x->cur < x->secured ? min64(x->secured - x->cur, len) : 0);
        size_t k = (size_t)(len - skip);
        const uint8_t *q = k ? v + skip : NULL; /* an empty RTTR may have no buffer */
        x->cur += len;
        if (k) {
            if (r->cp_kib == 0) {
                rc = uw_feed(r, q, k);
                x->secured = x->cur;
            } else if (x->buf.len + k > (uint64_t)r->cp_kib * 1024u) {
                free_apdu(ap);
                return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL,
                                  "more than checkpointSize (%u KiB) octets without a checkpoint", r->cp_kib);
            } else {
                rc = x400i_buf_append(&x->buf, q, k);
                if (rc < 0) {
                    free_apdu(ap);
                    diag(r, X400_SOURCE_LOCAL, rc, 0, "no memory for %zu received octets", k);
                    return rtse_abort(r, AR_LOCAL, 0, rc);
                }
            }
        }
    }
    free_apdu(ap);
    if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
    if (rc < 0 && r->state != X400I_RTSE_ST_CLOSED) return rtse_abort(r, AR_PROTOCOL, 0, X400_ERR_PARSE);
    return 0;
}

static int act_minor(x400i_rtse *r, const evargs *a)
{
    rx_state *x = &r->rx;
    int rc;
    if (!x->skip_all && rx_secure(r) < 0) {
        if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
        return rtse_abort(r, AR_PROTOCOL, 0, X400_ERR_PARSE);
    }
    ring_add(x->ring, &x->nring, a->l->serial, x->cur);
    if (!x->skip_all) persist(r);
    if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
    /* P-SYNC-MINOR response: the checkpoint is secured */
    rc = r->lo.minor_sync_rsp(r->lo.user, a->l->serial);
    if (rc < 0) return lower_failed(r, "P-SYNC-MINOR response", rc);
    return 0;
}

static int act_act_end(x400i_rtse *r, const evargs *a)
{
    rx_state *x = &r->rx;
    x400i_rtse_ind ind;
    int rc;
    (void)a;
    r->state = X400I_RTSE_ST_OPEN;
    if (!x->skip_all) {
        if (rx_secure(r) < 0 || uw_finish(r) < 0) {
            if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
            r->state = X400I_RTSE_ST_RECEIVING;
            return rtse_abort(r, AR_PROTOCOL, 0, X400_ERR_PARSE);
        }
        /* RT-TRANSFER indication: the APDU is complete */
        ind_init(&ind, X400I_RTSE_TRANSFER_IND);
        ind.total = x->uw.delivered;
        /* X400I_RTSE_DEFER: the user confirms later (x400i_rtse_transfer_accept),
         * e.g. once the APDU is on stable storage */
        if (indicate(r, &ind) == X400I_RTSE_DEFER) r->end_deferred = 1;
        if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
        x->completed = 1;
        x->user_holds = r->end_deferred;
        x->total = x->cur;
        x->expires = r->now + (uint64_t)r->cfg.recovery_timeout_s * 1000u;
        /* a completed record tells a restored receiver to confirm a resume
         * of this activity: written only once the user has confirmed it */
        if (r->cp_kib && !x->user_holds) persist(r);
        else if (!r->cp_kib) rx_reset(r);
    } else if (x->user_holds) {
        /* the end of a resumed activity the user has not confirmed yet
         * (X.228 recovery after a lost connection): the P-ACTIVITY-END
         * response waits for x400i_rtse_transfer_accept, as the first did */
        r->end_deferred = 1;
    }
    x->skip_all = 0;
    if (r->state == X400I_RTSE_ST_CLOSED || r->end_deferred) return 0;
    rc = r->lo.activity_end_rsp(r->lo.user);
    if (rc < 0) return lower_failed(r, "P-ACTIVITY-END response", rc);
    return 0;
}

static int act_act_interrupt(x400i_rtse *r, const evargs *a)
{
    int rc;
    (void)a;
    /* keep what was confirmed for a later S-ACTIVITY-RESUME */
    x400i_buf_reset(&r->rx.buf);
    r->rx.cur = r->rx.secured;
    r->state = X400I_RTSE_ST_OPEN;
    rc = r->lo.activity_interrupt_rsp(r->lo.user);
    return rc < 0 ? lower_failed(r, "P-ACTIVITY-INTERRUPT response", rc) : 0;
}

static int act_act_discard(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    int rc;
    (void)a;
    rx_reset(r);
    r->state = X400I_RTSE_ST_OPEN;
    ind_init(&ind, X400I_RTSE_TRANSFER_ABANDON);
    indicate(r, &ind);
    persist_erase(r);
    rc = r->lo.activity_discard_rsp(r->lo.user);
    return rc < 0 ? lower_failed(r, "P-ACTIVITY-DISCARD response", rc) : 0;
}

static int act_turn_please_req(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t ap;
    int rc;
    if (!r->twa) return refuse(r, ev_names[EV_TURN_PLEASE_REQ], "the dialogue mode is monologue");
    if (r->turn) return refuse(r, ev_names[EV_TURN_PLEASE_REQ], "the turn is already held");
    if (a->priority < 0) return diag(r, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0, "negative priority"), REFUSE;
    memset(&ap, 0, sizeof ap);
    ap.present = RTSE_apdus_PR_rttp_apdu;
    ap.choice.rttp_apdu = a->priority;
    if (encode_apdu(r, &ap) < 0) return REFUSE;
    /* RT-TURN-PLEASE -> P-TOKEN-PLEASE with RTTP, X.228 9.8 */
    rc = r->lo.token_please_req(r->lo.user, r->out.p, r->out.len);
    return rc < 0 ? lower_failed(r, "P-TOKEN-PLEASE request", rc) : 0;
}

static int act_turn_give_req(x400i_rtse *r, const evargs *a)
{
    int rc;
    (void)a;
    if (!r->twa) return refuse(r, ev_names[EV_TURN_GIVE_REQ], "the dialogue mode is monologue");
    if (!r->turn) return refuse(r, ev_names[EV_TURN_GIVE_REQ], "the turn is not held");
    if (r->rx.active && !r->rx.completed)
        return refuse(r, ev_names[EV_TURN_GIVE_REQ], "an interrupted incoming transfer awaits resumption");
    r->turn = 0;
    /* RT-TURN-GIVE -> P-CONTROL-GIVE, X.228 9.9 */
    rc = r->lo.control_give_req(r->lo.user);
    return rc < 0 ? lower_failed(r, "P-CONTROL-GIVE request", rc) : 0;
}

static int act_token_please(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    x400i_rtse_ind ind;
    int rc;
    long prio;
    if (!r->twa) return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "RT-TURN-PLEASE in monologue");
    if (!r->turn)
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "RT-TURN-PLEASE to the side without the turn");
    if ((rc = decode_apdu(r, a->l->apdu, a->l->apdu_len, &ap, "P-TOKEN-PLEASE")) < 0)
        return rtse_abort(r, AR_PROTOCOL, 0, rc);
    if (ap->present != RTSE_apdus_PR_rttp_apdu) {
        free_apdu(ap);
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "P-TOKEN-PLEASE carries no RTTP");
    }
    prio = ap->choice.rttp_apdu;
    free_apdu(ap);
    if (prio < 0 || prio > 0x7fffffffL)
        return peer_error(r, AR_INVALID_PARAM, 0, X400_ERR_PROTOCOL, "RTTP priority %ld out of range", prio);
    ind_init(&ind, X400I_RTSE_TURN_PLEASE_IND);
    ind.priority = (int)prio;
    indicate(r, &ind);
    return 0;
}

static int act_control_give(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    if (!r->twa) return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "RT-TURN-GIVE in monologue");
    if (r->turn) return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "RT-TURN-GIVE to the holder of the turn");
    r->turn = 1;
    ind_init(&ind, X400I_RTSE_TURN_GIVE_IND);
    indicate(r, &ind);
    return 0;
}

static int act_close_req(x400i_rtse *r, const evargs *a)
{
    int rc;
    (void)a;
    if (!r->initiator) return refuse(r, ev_names[EV_CLOSE_REQ], "only the association-initiator may close");
    if (!r->turn) return refuse(r, ev_names[EV_CLOSE_REQ], "the turn is not held");
    if (r->rx.active && !r->rx.completed)
        return refuse(r, ev_names[EV_CLOSE_REQ], "an interrupted incoming transfer awaits resumption");
    /* RT-CLOSE -> A-RELEASE / S-RELEASE, X.228 9.3 */
    rc = r->lo.release_req(r->lo.user);
    return rc < 0 ? lower_failed(r, "release request", rc) : 0;
}

static int act_release(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    if (r->initiator || r->turn)
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "release from %s",
                          r->initiator ? "the association-responder" : "the side without the turn");
    r->state = X400I_RTSE_ST_WAIT_CLOSE_RSP;
    ind_init(&ind, X400I_RTSE_CLOSE_IND);
    indicate(r, &ind);
    return 0;
}

static int act_close_rsp(x400i_rtse *r, const evargs *a)
{
    int rc;
    (void)a;
    r->state = X400I_RTSE_ST_CLOSED;
    if (r->rx.active) {
        rx_reset(r);
        persist_erase(r);
    }
    rc = r->lo.release_rsp(r->lo.user);
    (void)rc; /* closed either way */
    return 0;
}

static int act_release_conf(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    r->state = X400I_RTSE_ST_CLOSED;
    if (r->rx.active) {
        rx_reset(r);
        persist_erase(r);
    }
    ind_init(&ind, X400I_RTSE_CLOSE_CONF);
    indicate(r, &ind);
    return 0;
}

static int act_u_abort_req(x400i_rtse *r, const evargs *a)
{
    int st = r->ev_state;
    int connected = st != X400I_RTSE_ST_RECOVERING && st != X400I_RTSE_ST_WAIT_RECOVERY;
    if (st == X400I_RTSE_ST_RECOVERING && r->connecting) connected = 1;
    diag(r, X400_SOURCE_LOCAL, X400_ERR_ABORTED, AR_USER, "RT-U-ABORT requested by the user");
    r->state = X400I_RTSE_ST_CLOSED;
    /* RT-U-ABORT -> A-ABORT / S-U-ABORT with RTAB, X.228 9.10 */
    if (connected) (void)send_rtab(r, AR_USER, 0, a->ud, a->len);
    enter_closed(r, X400_ERR_ABORTED);
    return 0;
}

static int act_peer_abort(x400i_rtse *r, const evargs *a)
{
    RTSE_apdus_t *ap = NULL;
    x400i_rtse_ind ind;
    int reason = -1, user = 1;
    const ANY_t *ud = NULL;
    const x400i_rtse_lind *l = a->l;
    if (l->apdu_len) {
        if (decode_apdu(r, l->apdu, l->apdu_len, &ap, "abort indication") < 0 ||
            ap->present != RTSE_apdus_PR_rtab_apdu) {
            char text[X400_DIAG_TEXT_MAX];
            snprintf(text, sizeof text, "%s", ap ? "abort indication carries no RTAB" : r->diag.text);
            free_apdu(ap);
            diag(r, X400_SOURCE_PEER, X400_ERR_PROTOCOL, -1, "%s", text);
            ap = NULL;
            user = 0;
        } else {
            const RTABapdu_t *b = &ap->choice.rtab_apdu;
            if (b->abortReason) reason = (int)*b->abortReason;
            ud = b->userdataAB;
            if (reason >= 0 && reason != AR_USER) user = 0;
            if (b->abortReason && !x400i_rtse_abort_reason_name(reason))
                diag(r, X400_SOURCE_PEER, X400_ERR_ABORTED, reason, "RTAB with unknown abort reason %ld",
                     (long)*b->abortReason);
            else if (!user)
                diag(r, X400_SOURCE_PEER, X400_ERR_ABORTED, reason, "aborted by the peer's RTSE: %s",
                     x400i_rtse_abort_reason_name(reason));
            else
                diag(r, X400_SOURCE_PEER, X400_ERR_ABORTED, reason, "RT-U-ABORT by the peer");
        }
    } else {
        diag(r, X400_SOURCE_PEER, X400_ERR_ABORTED, -1, "aborted by the peer without RTAB");
    }
    r->state = X400I_RTSE_ST_CLOSED;
    enter_closed(r, X400_ERR_ABORTED);
    ind_init(&ind, user ? X400I_RTSE_U_ABORT_IND : X400I_RTSE_P_ABORT_IND);
    ind.reason = reason;
    ind.diag = &r->diag;
    if (ud) {
        ind.user_data = ud->buf;
        ind.user_data_len = (size_t)ud->size;
    }
    indicate(r, &ind);
    free_apdu(ap);
    return 0;
}

static int act_provider_abort(x400i_rtse *r, const evargs *a)
{
    return connection_lost(r, a->l ? a->l->diag : NULL);
}

static int act_ignore(x400i_rtse *r, const evargs *a)
{
    (void)r;
    (void)a;
    return 0;
}

static int act_t_transfer(x400i_rtse *r, const evargs *a)
{
    (void)a;
    diag(r, X400_SOURCE_LOCAL, X400_ERR_TIMEOUT, AR_TEMPORARY,
         "transfer of %zu octets not confirmed within its transfer time: RTAB temporaryProblem sent", r->tx.len);
    return rtse_abort(r, AR_TEMPORARY, 0, X400_ERR_TIMEOUT);
}

static int act_t_recovery(x400i_rtse *r, const evargs *a)
{
    x400i_rtse_ind ind;
    (void)a;
    diag(r, X400_SOURCE_PROVIDER, X400_ERR_TIMEOUT, 0,
         "connection not recovered within the recovery timeout (%u s): the transfer restarts from the beginning",
         r->cfg.recovery_timeout_s);
    enter_closed(r, X400_ERR_ABORTED);
    ind_init(&ind, X400I_RTSE_P_ABORT_IND);
    ind.diag = &r->diag;
    indicate(r, &ind);
    return 0;
}

static void try_connect(x400i_rtse *r)
{
    int rc;
    r->retry_at = NEVER;
    if (build_rtorq(r, 1) < 0) return;
    r->connecting = 1;
    /* RT-OPEN with connectionDataRQ recover; the turn to whoever sends */
    rc = r->lo.connect_req(r->lo.user, r->turn, r->out.p, r->out.len);
    if (rc < 0 && r->state == X400I_RTSE_ST_RECOVERING) {
        r->connecting = 0;
        r->retry_at = min64(r->now + RETRY_MS, r->rec_deadline);
    }
}

static int act_t_retry(x400i_rtse *r, const evargs *a)
{
    (void)a;
    if (!r->connecting) try_connect(r);
    return 0;
}

static int act_t_record(x400i_rtse *r, const evargs *a)
{
    (void)a;
    if (r->rx.active && r->rx.completed) {
        rx_reset(r);
        persist_erase(r);
    }
    return 0;
}

static const action_fn actions[A_COUNT] = {
    [A_OPEN_REQ] = act_open_req, [A_OPEN_RSP] = act_open_rsp, [A_TRANSFER_REQ] = act_transfer_req,
    [A_TURN_PLEASE_REQ] = act_turn_please_req, [A_TURN_GIVE_REQ] = act_turn_give_req,
    [A_CLOSE_REQ] = act_close_req, [A_CLOSE_RSP] = act_close_rsp, [A_U_ABORT_REQ] = act_u_abort_req,
    [A_CONNECT] = act_connect, [A_CONNECT_CONF] = act_connect_conf, [A_DATA] = act_data, [A_MINOR] = act_minor,
    [A_MINOR_CONF] = act_minor_conf, [A_ACT_START] = act_act_start, [A_ACT_RESUME] = act_act_resume,
    [A_ACT_INTERRUPT] = act_act_interrupt, [A_ACT_DISCARD] = act_act_discard, [A_ACT_END] = act_act_end,
    [A_ACT_END_CONF] = act_act_end_conf, [A_TOKEN_PLEASE] = act_token_please,
    [A_CONTROL_GIVE] = act_control_give, [A_RELEASE] = act_release, [A_RELEASE_CONF] = act_release_conf,
    [A_PEER_ABORT] = act_peer_abort, [A_PROVIDER_ABORT] = act_provider_abort, [A_IGNORE] = act_ignore,
    [A_T_TRANSFER] = act_t_transfer, [A_T_RECOVERY] = act_t_recovery, [A_T_RETRY] = act_t_retry,
    [A_T_RECORD] = act_t_record, [A_RECOVERY_REFUSED] = act_recovery_refused,
};

static int dispatch(x400i_rtse *r, int ev, const evargs *a)
{
    cell c = table[r->state][ev];
    int old = r->state, rc;
    if (!c.act) {
        if (IS_TIMER_EV(ev)) return X400_OK;
        if (IS_USER_EV(ev)) {
            if (r->state == X400I_RTSE_ST_CLOSED)
                return diag(r, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                            "%s not allowed: the RT-association no longer exists", ev_names[ev]);
            return diag(r, X400_SOURCE_LOCAL, X400_ERR_STATE, 0, "%s not allowed in state %s: request refused",
                        ev_names[ev], st_names[r->state]);
        }
        if (r->state == X400I_RTSE_ST_CLOSED)
            return diag(r, X400_SOURCE_PEER, X400_ERR_CLOSED, 0, "%s after the RT-association ended", ev_names[ev]);
        return peer_error(r, AR_PROTOCOL, 0, X400_ERR_PROTOCOL, "%s not allowed in state %s%s", ev_names[ev],
                          st_names[r->state],
                          ev == EVL(DATA) ? " (RTTR out of turn or outside a transfer)" : "");
    }
    r->cb_failed = 0;
    r->cb_rc = 0;
    r->ev_state = old;
    if (c.next != KEEP) r->state = c.next;
    rc = actions[c.act](r, a);
    if (rc == REFUSE) {
        if (r->state == c.next) r->state = old;
        return r->diag.code < 0 ? r->diag.code : X400_ERR_STATE;
    }
    if (r->cb_failed && r->state != X400I_RTSE_ST_CLOSED && r->cb_rc == X400_ERR_LIMIT) {
        /* the user refused the peer's data as too large (P1: MTS-APDU over
         * the link's limit): the peer's doing, and retrying will not help */
        diag(r, X400_SOURCE_PEER, X400_ERR_LIMIT, AR_PERMANENT,
             "the RTSE user refused the peer's APDU as too large: RTAB permanentProblem sent");
        rtse_abort(r, AR_PERMANENT, 0, X400_ERR_LIMIT);
        return X400_ERR_LIMIT;
    }
    if (r->cb_failed && r->state != X400I_RTSE_ST_CLOSED) {
        diag(r, X400_SOURCE_LOCAL, X400_ERR_CALLBACK_FAILURE, AR_LOCAL,
             "an RTSE user callback failed: RTAB localSystemProblem sent");
        rtse_abort(r, AR_LOCAL, 0, X400_ERR_CALLBACK_FAILURE);
        return X400_ERR_CALLBACK_FAILURE;
    }
    if (r->cb_failed) return X400_ERR_CALLBACK_FAILURE;
    return rc;
}

/* ---- public entry points ------------------------------------------------------- */
int x400i_rtse_new(x400i_rtse **out, int initiator, const x400_rtse_config *cfg, const x400i_rtse_lower *lower,
                   const x400i_rtse_callbacks *cb, const x400_allocator *a, const x400_logger *log)
{
    x400i_rtse *r;
    x400_rtse_config def;
    if (!out || !lower || !cb || !cb->indication) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if (!cfg) {
        x400_rtse_config_default(&def);
        cfg = &def;
    }
    if (x400_rtse_config_check(cfg) < 0) return X400_ERR_INVALID_ARG;
    if (!lower->connect_req || !lower->connect_rsp || !lower->data_req || !lower->minor_sync_req ||
        !lower->minor_sync_rsp || !lower->activity_start_req || !lower->activity_resume_req ||
        !lower->activity_discard_rsp || !lower->activity_interrupt_rsp || !lower->activity_end_req ||
        !lower->activity_end_rsp || !lower->token_please_req || !lower->control_give_req || !lower->release_req ||
        !lower->release_rsp || !lower->u_abort_req)
        return X400_ERR_INVALID_ARG;
    a = x400i_alloc_or_default(a);
    if (!(r = x400i_calloc(a, 1, sizeof *r))) return X400_ERR_NOMEM;
    r->alloc = a;
    if (log) {
        r->log_copy = *log;
        r->has_log = 1;
    }
    r->initiator = !!initiator;
    r->cfg = *cfg;
    r->lo = *lower;
    r->cb = *cb;
    r->state = X400I_RTSE_ST_IDLE;
    r->rec_deadline = r->retry_at = NEVER;
    r->cp_kib = cfg->checkpoint_size_kib;
    r->window = cfg->window_size;
    r->x410 = !!cfg->x410_mode;
    x400i_buf_init(&r->out, a, 0);
    x400i_buf_init(&r->rx.buf, a, 0);
    *out = r;
    return X400_OK;
}

void x400i_rtse_free(x400i_rtse *r)
{
    if (!r) return;
    x400i_buf_free(&r->out);
    x400i_buf_free(&r->rx.buf);
    x400i_free(r->alloc, r->open_ud);
    x400i_free(r->alloc, r);
}

int x400i_rtse_restore(x400i_rtse *r, const uint8_t *rec, size_t len)
{
    int rc;
    x400_rtse_record_info info;
    if (!r || !rec) return X400_ERR_INVALID_ARG;
    if (r->state != X400I_RTSE_ST_IDLE || r->initiator || r->restored)
        return diag(r, X400_SOURCE_LOCAL, X400_ERR_STATE, 0, "restore only into an idle responder");
    if ((rc = rec_parse(rec, len, NULL, NULL, &info)) < 0)
        return diag(r, X400_SOURCE_LOCAL, rc, 0, "recovery record rejected (%s)", x400_strerror(rc));
    if (info.expires_ms <= r->now)
        return diag(r, X400_SOURCE_LOCAL, X400_ERR_TIMEOUT, 0, "recovery record expired");
    (void)rec_parse(rec, len, &r->rx, &r->lost_ref, NULL);
    r->x410 = r->rx.uw.raw;   /* the mode the interrupted transfer ran */
    r->cur_ref = r->lost_ref;
    r->have_lost_ref = 1;
    r->restored = 1;
    r->rec_deadline = info.expires_ms;
    return X400_OK;
}

int x400i_rtse_lower_input(x400i_rtse *r, const x400i_rtse_lind *ind)
{
    evargs a;
    if (!r || !ind || (unsigned)ind->type >= X400I_RTSE_LIND_COUNT) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.l = ind;
    return dispatch(r, EV_L_FIRST + (int)ind->type, &a);
}

int x400i_rtse_open_req(x400i_rtse *r, const uint8_t *ud, size_t len)
{
    evargs a;
    if (!r || (len && !ud) || len > CTRL_MAX / 2) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.ud = ud;
    a.len = len;
    return dispatch(r, EV_OPEN_REQ, &a);
}

int x400i_rtse_open_rsp(x400i_rtse *r, int accept, int reason, const uint8_t *ud, size_t len)
{
    evargs a;
    if (!r || (len && !ud) || len > CTRL_MAX / 2) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.accept = accept;
    a.reason = reason;
    a.ud = ud;
    a.len = len;
    return dispatch(r, EV_OPEN_RSP, &a);
}

int x400i_rtse_transfer_req(x400i_rtse *r, const uint8_t *apdu, size_t len, x400_rtse_priority prio,
                            uint64_t tid)
{
    evargs a;
    if (!r || (len && !apdu) || (unsigned)prio > 2) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.ud = apdu;
    a.len = len;
    a.prio = prio;
    a.tid = tid;
    return dispatch(r, EV_TRANSFER_REQ, &a);
}

int x400i_rtse_turn_please_req(x400i_rtse *r, int priority)
{
    evargs a;
    if (!r) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.priority = priority;
    return dispatch(r, EV_TURN_PLEASE_REQ, &a);
}

int x400i_rtse_turn_give_req(x400i_rtse *r)
{
    evargs a;
    if (!r) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    return dispatch(r, EV_TURN_GIVE_REQ, &a);
}

int x400i_rtse_close_req(x400i_rtse *r)
{
    evargs a;
    if (!r) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    return dispatch(r, EV_CLOSE_REQ, &a);
}

int x400i_rtse_close_rsp(x400i_rtse *r)
{
    evargs a;
    if (!r) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    return dispatch(r, EV_CLOSE_RSP, &a);
}

int x400i_rtse_u_abort_req(x400i_rtse *r, const uint8_t *ud, size_t len)
{
    evargs a;
    if (!r || (len && !ud) || len > CTRL_MAX / 2) return X400_ERR_INVALID_ARG;
    memset(&a, 0, sizeof a);
    a.ud = ud;
    a.len = len;
    return dispatch(r, EV_U_ABORT_REQ, &a);
}

uint64_t x400i_rtse_next_timeout(const x400i_rtse *r)
{
    uint64_t t = NEVER;
    if (!r || r->state == X400I_RTSE_ST_CLOSED) return NEVER;
    if (r->tx.active) t = min64(t, r->tx.deadline);
    t = min64(t, r->rec_deadline);
    if (r->state == X400I_RTSE_ST_RECOVERING) t = min64(t, r->retry_at);
    if (r->rx.active && r->rx.completed && r->state == X400I_RTSE_ST_OPEN) t = min64(t, r->rx.expires);
    return t;
}

int x400i_rtse_tick(x400i_rtse *r, uint64_t now)
{
    evargs a;
    int guard = 0;
    if (!r) return X400_ERR_INVALID_ARG;
    if (now > r->now) r->now = now;
    memset(&a, 0, sizeof a);
    while (guard++ < 8 && r->state != X400I_RTSE_ST_CLOSED) {
        int ev;
        if (r->tx.active && r->now >= r->tx.deadline) ev = EV_T_TRANSFER;
        else if (r->now >= r->rec_deadline) ev = EV_T_RECOVERY;
        else if (r->state == X400I_RTSE_ST_RECOVERING && r->now >= r->retry_at) ev = EV_T_RETRY;
        else if (r->rx.active && r->rx.completed && r->state == X400I_RTSE_ST_OPEN && r->now >= r->rx.expires)
            ev = EV_T_RECORD;
        else break;
        if (!table[r->state][ev].act) {
            /* not applicable in this state: disarm */
            if (ev == EV_T_TRANSFER) r->tx.deadline = NEVER;
            else if (ev == EV_T_RECOVERY) r->rec_deadline = NEVER;
            else if (ev == EV_T_RETRY) r->retry_at = NEVER;
            else r->rx.expires = NEVER;
            continue;
        }
        int rc = dispatch(r, ev, &a);
        if (ev == EV_T_RETRY && r->state == X400I_RTSE_ST_RECOVERING && r->retry_at <= r->now && !r->connecting)
            r->retry_at = min64(r->now + RETRY_MS, r->rec_deadline);
        if (rc <= X400_ERR_FATAL) return rc;
    }
    return X400_OK;
}

/* ---- introspection ----------------------------------------------------------- */
int x400i_rtse_state(const x400i_rtse *r) { return r ? r->state : -1; }
const char *x400i_rtse_state_name(int st)
{
    return st >= 0 && st < X400I_RTSE_ST_COUNT ? st_names[st] : "?";
}
const char *x400i_rtse_event_name(int ev) { return ev >= 0 && ev < EV_COUNT ? ev_names[ev] : "?"; }
int x400i_rtse_event_count(void) { return EV_COUNT; }
int x400i_rtse_table_entry(int st, int ev, int *next)
{
    if (st < 0 || st >= X400I_RTSE_ST_COUNT || ev < 0 || ev >= EV_COUNT || !table[st][ev].act) return 0;
    if (next) *next = table[st][ev].next;
    return 1;
}
int x400i_rtse_has_turn(const x400i_rtse *r) { return r ? r->turn : 0; }
uint32_t x400i_rtse_checkpoint_kib(const x400i_rtse *r) { return r ? r->cp_kib : 0; }
uint32_t x400i_rtse_window(const x400i_rtse *r) { return r ? r->window : 0; }
int x400i_rtse_twa(const x400i_rtse *r) { return r ? r->twa : 0; }
int x400i_rtse_x410(const x400i_rtse *r) { return r ? r->x410 : 0; }
const x400_diag *x400i_rtse_diag(const x400i_rtse *r) { return r ? &r->diag : NULL; }
uint64_t x400i_rtse_bytes_sent(const x400i_rtse *r) { return r ? r->bytes_sent : 0; }
int x400i_rtse_transfer_accept(x400i_rtse *r)
{
    int rc;
    if (!r) return X400_ERR_INVALID_ARG;
    if (r->rx.active && r->rx.user_holds) {
        r->rx.user_holds = 0;
        if (r->cp_kib && r->rx.completed) persist(r); /* now a completed record */
    }
    if (!r->end_deferred) return X400_OK;
    r->end_deferred = 0;
    if (r->state != X400I_RTSE_ST_OPEN) return X400_OK;
    /* P-ACTIVITY-END response: the RT-TRANSFER is confirmed to the sender */
    rc = r->lo.activity_end_rsp(r->lo.user);
    if (rc < 0) return lower_failed(r, "P-ACTIVITY-END response", rc);
    return X400_OK;
}

int x400i_rtse_transfer_deferred(const x400i_rtse *r) { return r ? r->end_deferred || (r->rx.active && r->rx.user_holds) : 0; }

const x400i_rtse_ref *x400i_rtse_waiting_ref(const x400i_rtse *r)
{
    if (!r || !r->have_lost_ref) return NULL;
    if (r->state == X400I_RTSE_ST_WAIT_RECOVERY || (r->state == X400I_RTSE_ST_IDLE && r->restored))
        return &r->lost_ref;
    return NULL;
}
