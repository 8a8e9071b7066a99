/*
 * Transport layer: RFC 1006 TPKT framing and ITU-T X.224 class 0 over it
 * (RFC 1006 section 6; X.224 clauses 13.3 CR, 13.4 CC, 13.5 DR, 13.7 DT,
 * 13.12 ER).  Sans-I/O; see lib/transport.h and doc/architecture.md ("Transport").
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "transport.h"

/* ---- constants ------------------------------------------------------- */

#define TPKT_VERSION 3           /* RFC 1006 section 6 */
#define TPKT_HDR 4
#define TPDU_MIN 3               /* smallest class 0 TPDU: a DT header */

/* TPDU codes (X.224 13.1, table 8), high nibble; class 0 uses the first five. */
#define TPDU_CR 0xE0
#define TPDU_CC 0xD0
#define TPDU_DR 0x80
#define TPDU_DT 0xF0
#define TPDU_ER 0x70
#define TPDU_DC 0xC0
#define TPDU_ED 0x10
#define TPDU_EA 0x20
#define TPDU_RJ 0x50
#define TPDU_AK 0x60

#define DT_EOT 0x80              /* X.224 13.7.3 c): end of TSDU mark */

/* Parameter codes of the variable part (X.224 13.3.4, 13.5.4, 13.12.4). */
#define PAR_TPDU_SIZE 0xC0       /* log2 of the size, 7..13 */
#define PAR_CALLING_TSEL 0xC1    /* in CR/CC; also "invalid TPDU" in ER */
#define PAR_CALLED_TSEL 0xC2
#define PAR_INVALID_TPDU 0xC1
#define PAR_ALT_CLASSES 0xC7     /* alternative protocol classes */
#define PAR_PREF_TPDU_SIZE 0xF0  /* preferred max TPDU size, units of 128 */

#define CR_FIXED 6               /* LI minimum of CR/CC/DR (code .. class/reason) */
#define ER_FIXED 4               /* LI minimum of ER */
#define DT0_LI 2                 /* class 0 DT: code + EOT/NR */
#define ER_INVALID_MAX 120       /* keep our ER inside a 128-octet TPDU */

#define DEFAULT_MAX_TSDU ((size_t)16 << 20)
#define DEFAULT_MAX_OUTPUT ((size_t)64 << 20)
#define TSDU_KEEP ((size_t)256 << 10) /* larger reassembly buffers are released */

/* ---- the state machine ------------------------------------------------ */

enum tp_state {
    ST_IDLE,        /* initiator before T-CONNECT request */
    ST_LISTEN,      /* responder waiting for a CR ("closed" in X.224) */
    ST_WAIT_CC,     /* CR sent */
    ST_WAIT_ACCEPT, /* CR received, connect_ind deciding */
    ST_OPEN,        /* data transfer */
    ST_CLOSING,     /* DR queued at the user's request; waiting for TCP close */
    ST_CLOSED,      /* ended: only free (and drain pending output) */
    ST__N
};

enum tp_event {
    EV_CONNECT_REQ, /* T-CONNECT request */
    EV_DATA_REQ,    /* T-DATA request */
    EV_DISC_REQ,    /* T-DISCONNECT request */
    EV_ACCEPT,      /* T-CONNECT response (connect_ind returned 0) */
    EV_REFUSE,      /* connect_ind refused */
    EV_CR, EV_CC, EV_DT, EV_DR, EV_ER, /* TPDUs received */
    EV_TCP_CLOSED,  /* network connection released under us */
    EV__N
};

enum tp_action {
    A_INVALID = 0,  /* local: X400_ERR_STATE; peer TPDU: protocol error (ER) */
    A_CLOSED,       /* local request after the end: X400_ERR_CLOSED */
    A_NONE,         /* only the state changes */
    A_SEND_CR, A_SEND_CC, A_SEND_DT, A_SEND_DR, A_REFUSE_DR,
    A_CR_IND, A_CC_CONF, A_DT_IND, A_DR_IND, A_ER_IND,
    A_TCP_IND
};

typedef struct { uint8_t action, next; } tp_trans;

#define T(a, s) { a, s }
/* [state][event] -> action, next state.  Missing entries are A_INVALID. */
static const tp_trans tp_table[ST__N][EV__N] = {
    [ST_IDLE] = {
        [EV_CONNECT_REQ] = T(A_SEND_CR, ST_WAIT_CC),
        [EV_DISC_REQ] = T(A_NONE, ST_CLOSED),
        [EV_TCP_CLOSED] = T(A_TCP_IND, ST_CLOSED),
    },
    [ST_LISTEN] = {
        [EV_CR] = T(A_CR_IND, ST_WAIT_ACCEPT),
        [EV_DISC_REQ] = T(A_NONE, ST_CLOSED),
        [EV_TCP_CLOSED] = T(A_TCP_IND, ST_CLOSED),
    },
    [ST_WAIT_CC] = {
        [EV_CC] = T(A_CC_CONF, ST_OPEN),
        [EV_DR] = T(A_DR_IND, ST_CLOSED),
        [EV_ER] = T(A_ER_IND, ST_CLOSED),
        [EV_DISC_REQ] = T(A_NONE, ST_CLOSED), /* class 0: just release TCP */
        [EV_TCP_CLOSED] = T(A_TCP_IND, ST_CLOSED),
    },
    [ST_WAIT_ACCEPT] = {
        [EV_ACCEPT] = T(A_SEND_CC, ST_OPEN),
        [EV_REFUSE] = T(A_REFUSE_DR, ST_CLOSING),
        [EV_DISC_REQ] = T(A_REFUSE_DR, ST_CLOSING),
        [EV_TCP_CLOSED] = T(A_TCP_IND, ST_CLOSED),
    },
    [ST_OPEN] = {
        [EV_DATA_REQ] = T(A_SEND_DT, ST_OPEN),
        [EV_DISC_REQ] = T(A_SEND_DR, ST_CLOSING),
        [EV_DT] = T(A_DT_IND, ST_OPEN),
        [EV_DR] = T(A_DR_IND, ST_CLOSED),
        [EV_ER] = T(A_ER_IND, ST_CLOSED),
        [EV_TCP_CLOSED] = T(A_TCP_IND, ST_CLOSED),
    },
    [ST_CLOSING] = { /* after our DR: discard what the peer still sends */
        [EV_CONNECT_REQ] = T(A_CLOSED, ST_CLOSING),
        [EV_DATA_REQ] = T(A_CLOSED, ST_CLOSING),
        [EV_DISC_REQ] = T(A_NONE, ST_CLOSING),
        [EV_CR] = T(A_NONE, ST_CLOSING),
        [EV_CC] = T(A_NONE, ST_CLOSING),
        [EV_DT] = T(A_NONE, ST_CLOSING),
        [EV_DR] = T(A_NONE, ST_CLOSED),
        [EV_ER] = T(A_NONE, ST_CLOSED),
        [EV_TCP_CLOSED] = T(A_NONE, ST_CLOSED),
    },
    [ST_CLOSED] = {
        [EV_CONNECT_REQ] = T(A_CLOSED, ST_CLOSED),
        [EV_DATA_REQ] = T(A_CLOSED, ST_CLOSED),
        [EV_DISC_REQ] = T(A_NONE, ST_CLOSED),
        [EV_ACCEPT] = T(A_NONE, ST_CLOSED),
        [EV_REFUSE] = T(A_NONE, ST_CLOSED),
        [EV_CR] = T(A_NONE, ST_CLOSED),
        [EV_CC] = T(A_NONE, ST_CLOSED),
        [EV_DT] = T(A_NONE, ST_CLOSED),
        [EV_DR] = T(A_NONE, ST_CLOSED),
        [EV_ER] = T(A_NONE, ST_CLOSED),
        [EV_TCP_CLOSED] = T(A_NONE, ST_CLOSED),
    },
};
#undef T

static const char *const state_names[ST__N] = {
    "idle", "listen", "wait-CC", "wait-accept", "open", "closing", "closed"
};
static const char *const event_names[EV__N] = {
    "T-CONNECT request", "T-DATA request", "T-DISCONNECT request",
    "T-CONNECT response", "T-CONNECT refusal",
    "CR", "CC", "DT", "DR", "ER", "TCP close"
};

static const struct { int code; const char *name; } dr_reasons[] = {
    { X400I_TP_DR_NOT_SPECIFIED, "reason not specified" },
    { X400I_TP_DR_CONGESTION, "congestion at TSAP" },
    { X400I_TP_DR_NOT_ATTACHED, "session entity not attached to TSAP" },
    { X400I_TP_DR_ADDRESS_UNKNOWN, "address unknown" },
    { X400I_TP_DR_NORMAL, "normal disconnect initiated by session entity" },
    { X400I_TP_DR_REMOTE_CONGESTION, "remote transport entity congestion at connect request time" },
    { X400I_TP_DR_NEGOTIATION_FAILED, "connection negotiation failed" },
    { X400I_TP_DR_DUPLICATE_REF, "duplicate source reference" },
    { X400I_TP_DR_MISMATCHED_REFS, "mismatched references" },
    { X400I_TP_DR_PROTOCOL_ERROR, "protocol error" },
    { X400I_TP_DR_REF_OVERFLOW, "reference overflow" },
    { X400I_TP_DR_REFUSED, "connection request refused on this network connection" },
    { X400I_TP_DR_HEADER_INVALID, "header or parameter length invalid" },
};

static const char *const er_causes[] = {
    "reason not specified", "invalid parameter code", "invalid TPDU type",
    "invalid parameter value"
};

const char *x400i_tp_dr_reason_name(int reason)
{
    for (size_t i = 0; i < X400I_ARRAY_LEN(dr_reasons); i++)
        if (dr_reasons[i].code == reason) return dr_reasons[i].name;
    return "unknown reason";
}

const char *x400i_tp_er_cause_name(int cause)
{
    if (cause >= 0 && (size_t)cause < X400I_ARRAY_LEN(er_causes)) return er_causes[cause];
    return "unknown cause";
}

/* ---- the object -------------------------------------------------------- */

struct x400i_tp {
    x400_allocator alloc;      /* copies: the caller's structs may go away */
    x400_logger log;
    x400i_tp_callbacks cb;
    x400i_tp_config cfg;       /* normalised */
    int initiator;
    enum tp_state state;
    enum tp_state prev;        /* state before the event being handled */
    int busy;                  /* inside x400i_tp_input */
    int ind_done;              /* disconnect_ind delivered */
    int peer_ref_known;
    uint16_t peer_ref;         /* the peer's SRC-REF: our DST-REF */
    uint32_t tpdu_size;        /* negotiated */
    uint32_t proposed_size;    /* initiator: what our CR allowed */
    int sent_c0, sent_f0;      /* initiator: size parameters in our CR */
    /* TPKT reassembly (RFC 1006 section 6) */
    uint8_t hdr[TPKT_HDR];
    size_t hdr_have;
    size_t body_need;          /* TPDU octets of the current TPKT */
    x400i_buf in;              /* partial TPKT body */
    x400i_buf tsdu;            /* DTs reassembled up to EOT */
    x400i_buf out;             /* queued output, sent from out_off */
    size_t out_off;
    x400_diag diag;
};

/* Context of one event. */
typedef struct {
    const uint8_t *t;   /* the TPDU (peer events) */
    size_t tlen;
    const uint8_t *data;/* T-DATA request */
    size_t dlen;
    int reason;         /* T-DISCONNECT request / refusal */
} tp_ev;

static void logd(x400i_tp *tp, const char *fmt, ...) X400I_PRINTF(2, 3);
static void logd(x400i_tp *tp, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    if (!x400i_log_enabled(&tp->log, X400_LOG_DEBUG)) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    x400i_log(&tp->log, X400_LOG_DEBUG, X400_LAYER_TRANSPORT, "%s: %s",
              tp->initiator ? "initiator" : "responder", msg);
}

static void set_state(x400i_tp *tp, enum tp_state s)
{
    if (tp->state != s)
        logd(tp, "state %s -> %s", state_names[tp->state], state_names[s]);
    tp->state = s;
}

/* ---- output -------------------------------------------------------------- */

/* Room for `extra` more output octets.  Control TPDUs (ctl) are not held to
 * max_output: at most a handful are ever queued per connection. */
static int out_reserve(x400i_tp *tp, size_t extra, int ctl)
{
    size_t unsent = tp->out.len - tp->out_off;
    if (!ctl && (extra > tp->cfg.max_output || unsent > tp->cfg.max_output - extra))
        return X400_ERR_LIMIT;
    if (tp->out_off && tp->out.cap - tp->out.len < extra) {
        memmove(tp->out.p, tp->out.p + tp->out_off, unsent);
        tp->out.len = unsent;
        tp->out_off = 0;
    }
    return x400i_buf_reserve(&tp->out, extra);
}

static void put_tpkt_hdr(uint8_t *q, size_t tpdu_len)
{
    size_t l = tpdu_len + TPKT_HDR;
    q[0] = TPKT_VERSION;
    q[1] = 0;
    q[2] = (uint8_t)(l >> 8);
    q[3] = (uint8_t)l;
}

/* Queue one control TPDU (CR, CC, DR, ER) in its TPKT. */
static int queue_tpdu(x400i_tp *tp, const uint8_t *t, size_t len, const char *what)
{
    int rv = out_reserve(tp, TPKT_HDR + len, 1);
    uint8_t *q;
    if (rv < 0) return rv;
    q = tp->out.p + tp->out.len;
    put_tpkt_hdr(q, len);
    memcpy(q + TPKT_HDR, t, len);
    tp->out.len += TPKT_HDR + len;
    x400i_log_hex(&tp->log, X400_LAYER_TRANSPORT, what, q, TPKT_HDR + len);
    return X400_OK;
}

static size_t put_param(uint8_t *t, size_t o, uint8_t code, const uint8_t *v, size_t n)
{
    t[o++] = code;
    t[o++] = (uint8_t)n;
    memcpy(t + o, v, n);
    return o + n;
}

/* Largest e with 2^e <= v, clamped to [7, hi]. */
static unsigned log2_clamp(uint32_t v, unsigned hi)
{
    unsigned e = 7;
    while (e < hi && ((uint32_t)1 << (e + 1)) <= v) e++;
    return e;
}

/* CR TPDU, X.224 13.3: class 0, no options, calling/called TSAP selectors,
 * TPDU size (<= 2048, the largest X.224 allows in class 0) and, when the
 * configured maximum is larger, the preferred maximum TPDU size. */
static int send_cr(x400i_tp *tp)
{
    uint8_t t[256];
    size_t o = 1;
    uint32_t max = tp->cfg.max_tpdu_size;
    t[o++] = TPDU_CR;
    t[o++] = 0; t[o++] = 0;                      /* DST-REF: zero in a CR */
    t[o++] = (uint8_t)(tp->cfg.local_ref >> 8);  /* SRC-REF */
    t[o++] = (uint8_t)tp->cfg.local_ref;
    t[o++] = 0x00;                               /* class 0, no options */
    if (tp->cfg.calling_tsel_len)
        o = put_param(t, o, PAR_CALLING_TSEL, tp->cfg.calling_tsel, tp->cfg.calling_tsel_len);
    if (tp->cfg.called_tsel_len)
        o = put_param(t, o, PAR_CALLED_TSEL, tp->cfg.called_tsel, tp->cfg.called_tsel_len);
    tp->proposed_size = X400I_TP_TPDU_DEFAULT;
    tp->sent_c0 = tp->sent_f0 = 0;
    if (!tp->cfg.omit_tpdu_size) {
        unsigned e = log2_clamp(max, 11);
        uint32_t units = max / 128;
        t[o++] = PAR_TPDU_SIZE; t[o++] = 1; t[o++] = (uint8_t)e;
        tp->sent_c0 = 1;
        tp->proposed_size = (uint32_t)1 << e;
        if (units * 128 > tp->proposed_size) {
            t[o++] = PAR_PREF_TPDU_SIZE; t[o++] = 2;
            t[o++] = (uint8_t)(units >> 8); t[o++] = (uint8_t)units;
            tp->sent_f0 = 1;
            tp->proposed_size = units * 128;
        }
    }
    t[0] = (uint8_t)(o - 1);
    logd(tp, "CR sent: src-ref 0x%04x, TPDU size %s%u", tp->cfg.local_ref,
         tp->cfg.omit_tpdu_size ? "omitted, default " : "", (unsigned)tp->proposed_size);
    return queue_tpdu(tp, t, o, "CR out");
}

/* DR TPDU, X.224 13.5 (class 0: no user data). */
static int send_dr(x400i_tp *tp, int reason, int refusing)
{
    uint8_t t[7];
    uint16_t src = refusing ? 0 : tp->cfg.local_ref; /* SRC-REF 0 when refusing a CR */
    t[0] = 6;
    t[1] = TPDU_DR;
    t[2] = (uint8_t)(tp->peer_ref >> 8); t[3] = (uint8_t)tp->peer_ref;
    t[4] = (uint8_t)(src >> 8); t[5] = (uint8_t)src;
    t[6] = (uint8_t)reason;
    logd(tp, "DR sent: reason %d (%s)", reason, x400i_tp_dr_reason_name(reason));
    return queue_tpdu(tp, t, sizeof t, "DR out");
}

/* ER TPDU, X.224 13.12, with the invalid TPDU parameter (mandatory in
 * class 0): the rejected TPDU's octets up to and including the bad one. */
static int send_er(x400i_tp *tp, int cause, const uint8_t *bad, size_t badlen)
{
    uint8_t t[5 + 2 + ER_INVALID_MAX];
    size_t o = 1;
    if (badlen > ER_INVALID_MAX) badlen = ER_INVALID_MAX;
    t[o++] = TPDU_ER;
    t[o++] = (uint8_t)(tp->peer_ref >> 8); t[o++] = (uint8_t)tp->peer_ref;
    t[o++] = (uint8_t)cause;
    if (bad && badlen) o = put_param(t, o, PAR_INVALID_TPDU, bad, badlen);
    t[0] = (uint8_t)(o - 1);
    logd(tp, "ER sent: reject cause %d (%s)", cause, x400i_tp_er_cause_name(cause));
    return queue_tpdu(tp, t, o, "ER out");
}

/* ---- ending the connection --------------------------------------------- */

static void indicate_end(x400i_tp *tp, int reason)
{
    set_state(tp, ST_CLOSED);
    if (tp->ind_done) return;
    tp->ind_done = 1;
    if (tp->cb.disconnect_ind) tp->cb.disconnect_ind(tp->cb.user, reason, &tp->diag);
}

/* The peer sent something invalid: diagnostic, ER (X.224 6.22: a protocol
 * error in class 0 is reported with an ER TPDU and the connection released),
 * disconnect_ind.  `bad`/`badlen`: the TPDU octets up to the offending one
 * (NULL for TPKT framing errors). */
static int peer_error(x400i_tp *tp, x400_layer layer, int code, int cause,
                      const uint8_t *bad, size_t badlen, const char *fmt, ...) X400I_PRINTF(7, 8);
static int peer_error(x400i_tp *tp, x400_layer layer, int code, int cause,
                      const uint8_t *bad, size_t badlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(&tp->diag, layer, X400_SOURCE_PEER, code, X400I_TP_DR_PROTOCOL_ERROR, fmt, ap);
    va_end(ap);
    x400i_log(&tp->log, X400_LOG_DEBUG, layer, "protocol error in state %s: %s",
              state_names[tp->state], tp->diag.text);
    (void)send_er(tp, cause, bad, badlen); /* best effort: the end is reported anyway */
    indicate_end(tp, X400I_TP_DR_PROTOCOL_ERROR);
    return code;
}

/* A local limit or resource failure while handling peer input: DR (when the
 * peer has a reference we can address), disconnect_ind. */
static int local_abort(x400i_tp *tp, int code, int reason, const char *fmt, ...) X400I_PRINTF(4, 5);
static int local_abort(x400i_tp *tp, int code, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, code, reason, fmt, ap);
    va_end(ap);
    logd(tp, "abort in state %s: %s", state_names[tp->state], tp->diag.text);
    if (tp->peer_ref_known) (void)send_dr(tp, reason, tp->state == ST_WAIT_ACCEPT);
    indicate_end(tp, reason);
    return code;
}

/* ---- variable part ---------------------------------------------------- */

typedef struct {
    int has_c0, has_f0;
    unsigned c0;                 /* log2 size */
    uint32_t f0;                 /* units of 128 */
    const uint8_t *calling, *called, *alt;
    size_t calling_len, called_len, alt_len;
    int has_calling, has_called;
} tp_params;

/* Walk the parameters of t[start .. li] (X.224 13.2.3).  Unknown parameters
 * are ignored; a parameter running past the header, a duplicated parameter
 * and, in CR/CC, a bad value of a known parameter abort the connection. */
static int parse_params(x400i_tp *tp, const uint8_t *t, size_t start, const char *name,
                        int check, tp_params *pp)
{
    size_t end = (size_t)t[0] + 1, o = start;
    uint8_t seen[32];
    memset(pp, 0, sizeof *pp);
    memset(seen, 0, sizeof seen);
    while (o < end) {
        uint8_t code = t[o];
        size_t len, v;
        if (end - o < 2)
            return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED,
                              t, o + 1, "%s parameter 0x%02x at offset %zu has no length octet",
                              name, code, o);
        len = t[o + 1];
        v = o + 2;
        if (len > end - v)
            return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED,
                              t, o + 2, "%s parameter 0x%02x length %zu runs past the header (%zu octets left)",
                              name, code, len, end - v);
        if (seen[code >> 3] & (1u << (code & 7)))
            return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_INVALID_PARAM_CODE,
                              t, o + 1, "%s parameter 0x%02x duplicated", name, code);
        seen[code >> 3] |= (uint8_t)(1u << (code & 7));
        if (check) {
            switch (code) {
            case PAR_TPDU_SIZE:
                if (len != 1 || t[v] < 7 || t[v] > 13)
                    return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL,
                                      X400I_TP_ER_INVALID_PARAM_VALUE, t, len ? v + 1 : v,
                                      "%s TPDU size parameter invalid (length %zu, value %u; 7..13 allowed)",
                                      name, len, len ? t[v] : 0u);
                pp->has_c0 = 1;
                pp->c0 = t[v];
                break;
            case PAR_PREF_TPDU_SIZE: {
                uint32_t u = 0;
                for (size_t i = 0; i < len && len <= 4; i++) u = u << 8 | t[v + i];
                if (len < 1 || len > 4 || u == 0)
                    return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL,
                                      X400I_TP_ER_INVALID_PARAM_VALUE, t, len ? v + len : v,
                                      "%s preferred maximum TPDU size invalid (length %zu, value %lu)",
                                      name, len, (unsigned long)u);
                pp->has_f0 = 1;
                pp->f0 = u;
                break;
            }
            case PAR_CALLING_TSEL:
            case PAR_CALLED_TSEL:
                if (len > X400I_TSEL_MAX)
                    return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL,
                                      X400I_TP_ER_INVALID_PARAM_VALUE, t, o + 2,
                                      "%s %s TSAP selector of %zu octets (at most %d supported)", name,
                                      code == PAR_CALLING_TSEL ? "calling" : "called", len, X400I_TSEL_MAX);
                if (code == PAR_CALLING_TSEL) {
                    pp->has_calling = 1; pp->calling = t + v; pp->calling_len = len;
                } else {
                    pp->has_called = 1; pp->called = t + v; pp->called_len = len;
                }
                break;
            case PAR_ALT_CLASSES:
                pp->alt = t + v;
                pp->alt_len = len;
                break;
            default:
                break; /* X.224 13.2.3: unknown or irrelevant to class 0: ignored */
            }
        }
        o = v + len;
    }
    return X400_OK;
}

/* Size carried by CR/CC parameters: the preferred maximum (multiples of 128)
 * when present, else the TPDU size, else the class 0 default.  RFC 1006
 * caps it at 65531. */
static uint32_t params_size(const tp_params *pp)
{
    uint64_t s;
    if (pp->has_f0) s = (uint64_t)pp->f0 * 128;
    else if (pp->has_c0) s = (uint64_t)1 << pp->c0;
    else s = X400I_TP_TPDU_DEFAULT;
    return s > X400I_TP_TPDU_MAX ? X400I_TP_TPDU_MAX : (uint32_t)s;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }

/* ---- event handlers ---------------------------------------------------- */

static int step(x400i_tp *tp, enum tp_event ev, const tp_ev *c);

/* CR received (responder, state listen), X.224 13.3. */
static int on_cr(x400i_tp *tp, const tp_ev *c)
{
    const uint8_t *t = c->t;
    tp_params pp;
    x400i_tp_conn_info ci;
    unsigned cls = t[6] >> 4;
    uint32_t size;
    uint8_t cc[32];
    size_t o = 1;
    int rv, r;

    tp->peer_ref = rd16(t + 4);
    tp->peer_ref_known = 1;
    if ((rv = parse_params(tp, t, 7, "CR", 1, &pp)) < 0) return rv;
    if (cls > 4)
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_INVALID_PARAM_VALUE,
                          t, 7, "CR proposes protocol class %u (0..4 exist)", cls);
    if (cls != 0) {
        /* X.224 6.5.5: the responder may select class 0 only if it is among
         * the alternative classes; otherwise negotiation fails. */
        int alt0 = 0;
        for (size_t i = 0; i < pp.alt_len; i++)
            if ((pp.alt[i] >> 4) == 0) alt0 = 1;
        if (!alt0)
            return local_abort(tp, X400_ERR_UNSUPPORTED, X400I_TP_DR_NEGOTIATION_FAILED,
                               "CR proposes class %u without class 0 as an alternative; "
                               "only class 0 is supported", cls);
        logd(tp, "CR proposes class %u with class 0 alternative: selecting class 0", cls);
    }
    /* TPDU size negotiation, X.224 6.5.4 / 13.3.4 b): the responder may only
     * lower the proposal. */
    size = params_size(&pp);
    if (size > tp->cfg.max_tpdu_size) size = tp->cfg.max_tpdu_size;
    if (pp.has_f0) {
        uint32_t units = size / 128;
        size = units * 128;
    } else if (pp.has_c0) {
        size = (uint32_t)1 << log2_clamp(size, 13);
    }
    tp->tpdu_size = size;

    memset(&ci, 0, sizeof ci);
    ci.calling_tsel = pp.calling; ci.calling_tsel_len = pp.calling_len;
    ci.called_tsel = pp.called; ci.called_tsel_len = pp.called_len;
    ci.tpdu_size = size;
    ci.src_ref = tp->peer_ref;
    ci.dst_ref = rd16(t + 2);
    logd(tp, "CR received: class %u, src-ref 0x%04x, calling %zu octets, called %zu octets, "
         "TPDU size %s -> %u", cls, tp->peer_ref, pp.calling_len, pp.called_len,
         pp.has_f0 ? "preferred" : pp.has_c0 ? "proposed" : "absent (default 128)", (unsigned)size);

    r = tp->cb.connect_ind ? tp->cb.connect_ind(tp->cb.user, &ci) : 0;
    if (tp->state != ST_WAIT_ACCEPT) return X400_OK; /* the callback disconnected */
    if (r == 0) {
        /* CC TPDU, X.224 13.4: class 0; the size parameter answers the one
         * the CR carried (none: the class 0 default stands). */
        cc[o++] = TPDU_CC;
        cc[o++] = (uint8_t)(tp->peer_ref >> 8); cc[o++] = (uint8_t)tp->peer_ref;
        cc[o++] = (uint8_t)(tp->cfg.local_ref >> 8); cc[o++] = (uint8_t)tp->cfg.local_ref;
        cc[o++] = 0x00;
        if (pp.has_c0) {
            unsigned e = log2_clamp(size, pp.c0);
            cc[o++] = PAR_TPDU_SIZE; cc[o++] = 1; cc[o++] = (uint8_t)e;
        }
        if (pp.has_f0) {
            uint32_t u = size / 128;
            cc[o++] = PAR_PREF_TPDU_SIZE; cc[o++] = 2;
            cc[o++] = (uint8_t)(u >> 8); cc[o++] = (uint8_t)u;
        }
        cc[0] = (uint8_t)(o - 1);
        return step(tp, EV_ACCEPT, &(tp_ev){ cc, o, NULL, 0, 0 });
    }
    if (r < 0) {
        x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_CALLBACK_FAILURE,
                       0, "connect_ind failed (%d): CR refused", r);
        (void)step(tp, EV_REFUSE, &(tp_ev){ NULL, 0, NULL, 0, 0 });
        return X400_ERR_CALLBACK_FAILURE;
    }
    if (r > 255) r = X400I_TP_DR_NOT_SPECIFIED;
    x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_REFUSED, r,
                   "CR refused by the user, reason %d (%s)", r, x400i_tp_dr_reason_name(r));
    return step(tp, EV_REFUSE, &(tp_ev){ NULL, 0, NULL, 0, r });
}

/* CC received (initiator, state wait-CC), X.224 13.4. */
static int on_cc(x400i_tp *tp, const tp_ev *c)
{
    const uint8_t *t = c->t;
    tp_params pp;
    x400i_tp_conn_info ci;
    uint32_t size;
    int rv;
    unsigned cls = t[6] >> 4;

    tp->peer_ref = rd16(t + 4);
    tp->peer_ref_known = 1;
    if ((rv = parse_params(tp, t, 7, "CC", 1, &pp)) < 0) return rv;
    if (cls != 0)
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_INVALID_PARAM_VALUE,
                          t, 7, "CC selects class %u; the CR proposed class 0 only", cls);
    if (rd16(t + 2) != tp->cfg.local_ref)
        logd(tp, "CC DST-REF 0x%04x differs from our SRC-REF 0x%04x (ignored in class 0)",
             rd16(t + 2), tp->cfg.local_ref);
    /* A size parameter in the CC can only lower the proposal; absent, the
     * class 0 default of 128 is used (safe whatever the peer meant). */
    size = params_size(&pp);
    if (size > tp->proposed_size)
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_INVALID_PARAM_VALUE,
                          t, (size_t)t[0] + 1, "CC raises the TPDU size to %u; the CR proposed %u",
                          (unsigned)size, (unsigned)tp->proposed_size);
    tp->tpdu_size = size;
    memset(&ci, 0, sizeof ci);
    if (pp.has_calling) { ci.calling_tsel = pp.calling; ci.calling_tsel_len = pp.calling_len; }
    else { ci.calling_tsel = tp->cfg.calling_tsel; ci.calling_tsel_len = tp->cfg.calling_tsel_len; }
    if (pp.has_called) { ci.called_tsel = pp.called; ci.called_tsel_len = pp.called_len; }
    else { ci.called_tsel = tp->cfg.called_tsel; ci.called_tsel_len = tp->cfg.called_tsel_len; }
    ci.tpdu_size = size;
    ci.src_ref = tp->peer_ref;
    ci.dst_ref = rd16(t + 2);
    logd(tp, "CC received: src-ref 0x%04x, TPDU size %u", tp->peer_ref, (unsigned)size);
    if (tp->cb.connect_conf) tp->cb.connect_conf(tp->cb.user, &ci);
    return X400_OK;
}

/* DT received (state open), X.224 13.7: reassemble up to EOT. */
static int on_dt(x400i_tp *tp, const tp_ev *c)
{
    const uint8_t *t = c->t, *d = t + 3;
    size_t dlen = c->tlen - 3;
    int eot = (t[2] & DT_EOT) != 0, r;
    if (t[0] != DT0_LI)
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED,
                          t, 1, "DT with LI %u; class 0 DT has LI 2", t[0]);
    if (c->tlen > tp->cfg.max_tpdu_size)
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED,
                          t, 3, "DT TPDU of %zu octets exceeds our maximum TPDU size %u",
                          c->tlen, (unsigned)tp->cfg.max_tpdu_size);
    if (dlen > tp->cfg.max_tsdu - tp->tsdu.len)
        return local_abort(tp, X400_ERR_LIMIT, X400I_TP_DR_CONGESTION,
                           "TSDU exceeds max_tsdu (%zu octets): %zu reassembled + %zu in this DT",
                           tp->cfg.max_tsdu, tp->tsdu.len, dlen);
    if (!eot || tp->tsdu.len) {
        if (x400i_buf_append(&tp->tsdu, d, dlen) < 0)
            return local_abort(tp, X400_ERR_NOMEM, X400I_TP_DR_CONGESTION,
                               "no memory to reassemble a TSDU of %zu octets", tp->tsdu.len + dlen);
        if (!eot) return X400_OK;
        d = tp->tsdu.p;
        dlen = tp->tsdu.len;
    }
    /* T-DATA indication */
    logd(tp, "TSDU of %zu octets received", dlen);
    r = tp->cb.data_ind ? tp->cb.data_ind(tp->cb.user, d, dlen) : 0;
    tp->tsdu.len = 0;
    if (tp->tsdu.cap > TSDU_KEEP) x400i_buf_free(&tp->tsdu);
    if (r < 0) {
        x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_CALLBACK_FAILURE,
                       X400I_TP_DR_NOT_SPECIFIED, "data_ind failed (%d): connection aborted", r);
        if (tp->state == ST_OPEN) {
            (void)send_dr(tp, X400I_TP_DR_NOT_SPECIFIED, 0);
            set_state(tp, ST_CLOSING);
        }
        return X400_ERR_CALLBACK_FAILURE;
    }
    return X400_OK;
}

/* DR received, X.224 13.5. */
static int on_dr(x400i_tp *tp, const tp_ev *c)
{
    int reason = c->t[6], refused = tp->prev == ST_WAIT_CC;
    x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_PEER,
                   refused ? X400_ERR_REFUSED : X400_ERR_CLOSED, reason,
                   "%s: peer sent DR, reason %d (%s)", refused ? "connection refused" : "disconnected",
                   reason, x400i_tp_dr_reason_name(reason));
    logd(tp, "%s", tp->diag.text);
    indicate_end(tp, reason);
    return X400_OK;
}

/* ER received, X.224 13.12: the peer rejected one of our TPDUs. */
static int on_er(x400i_tp *tp, const tp_ev *c)
{
    const uint8_t *t = c->t;
    int cause = t[4];
    char hex[3 * 16 + 4] = "";
    size_t end = (size_t)t[0] + 1, o = 5, h = 0;
    /* show the invalid TPDU parameter if it is well formed */
    while (o + 2 <= end && o + 2 + t[o + 1] <= end) {
        if (t[o] == PAR_INVALID_TPDU) {
            for (size_t i = 0; i < t[o + 1] && h + 4 < sizeof hex; i++)
                h += (size_t)snprintf(hex + h, sizeof hex - h, " %02x", t[o + 2 + i]);
            break;
        }
        o += 2 + (size_t)t[o + 1];
    }
    x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_PEER, X400_ERR_PROTOCOL,
                   X400I_TP_DR_PROTOCOL_ERROR, "peer sent ER in state %s: reject cause %d (%s)%s%s",
                   state_names[tp->prev], cause, x400i_tp_er_cause_name(cause),
                   h ? ", invalid TPDU:" : "", hex);
    logd(tp, "%s", tp->diag.text);
    indicate_end(tp, X400I_TP_DR_PROTOCOL_ERROR);
    return X400_OK;
}

/* T-DATA request, X.224 13.7: DTs of the negotiated size, EOT on the last. */
static int send_dt(x400i_tp *tp, const uint8_t *d, size_t n)
{
    size_t seg = tp->tpdu_size - 3, nseg = n ? (n + seg - 1) / seg : 1, total, off = 0;
    int rv;
    if (n > tp->cfg.max_output)
        return x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_LIMIT, 0,
                              "TSDU of %zu octets exceeds max_output %zu", n, tp->cfg.max_output);
    total = n + nseg * (TPKT_HDR + 3);
    rv = out_reserve(tp, total, 0);
    if (rv == X400_ERR_LIMIT)
        return x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, rv, 0,
                              "output queue full: %zu unsent + %zu > max_output %zu",
                              tp->out.len - tp->out_off, total, tp->cfg.max_output);
    if (rv < 0)
        return x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, rv, 0,
                              "no memory to queue %zu octets", total);
    do {
        size_t chunk = n - off < seg ? n - off : seg;
        uint8_t *q = tp->out.p + tp->out.len;
        put_tpkt_hdr(q, 3 + chunk);
        q[4] = DT0_LI;
        q[5] = TPDU_DT;
        q[6] = off + chunk == n ? DT_EOT : 0;
        if (chunk) memcpy(q + 7, d + off, chunk);
        tp->out.len += 7 + chunk;
        x400i_log_hex(&tp->log, X400_LAYER_TRANSPORT, "DT out", q, 7 + chunk);
        off += chunk;
    } while (off < n);
    logd(tp, "TSDU of %zu octets sent in %zu DT%s", n, nseg, nseg == 1 ? "" : "s");
    return X400_OK;
}

/* Run one event through the table. */
static int step(x400i_tp *tp, enum tp_event ev, const tp_ev *c)
{
    tp_trans tr = tp_table[tp->state][ev];
    enum tp_state from = tp->state;
    int rv;
    if (tr.action == A_INVALID) {
        if (ev >= EV_CR && ev <= EV_ER)
            return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED,
                              c->t, 2, "%s not allowed in state %s (%s)", event_names[ev],
                              state_names[from], tp->initiator ? "initiator" : "responder");
        return x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                              "%s not allowed in state %s (%s)", event_names[ev], state_names[from],
                              tp->initiator ? "initiator" : "responder");
    }
    if (tr.action == A_CLOSED)
        return x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_CLOSED, 0,
                              "%s after the transport connection ended", event_names[ev]);
    if (ev == EV_DATA_REQ) {
        /* no state change; a refused T-DATA request leaves the object usable */
        return send_dt(tp, c->data, c->dlen);
    }
    tp->prev = from;
    set_state(tp, (enum tp_state)tr.next);
    switch ((enum tp_action)tr.action) {
    case A_NONE:
        if (ev >= EV_CR && ev <= EV_ER) logd(tp, "%s discarded in state %s", event_names[ev], state_names[from]);
        return X400_OK;
    case A_SEND_CR:
        rv = send_cr(tp);
        if (rv < 0) {
            x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, rv, 0, "cannot queue CR");
            set_state(tp, ST_IDLE);
        }
        return rv;
    case A_SEND_CC:
        logd(tp, "CC sent: TPDU size %u", (unsigned)tp->tpdu_size);
        rv = queue_tpdu(tp, c->t, c->tlen, "CC out");
        if (rv < 0) {
            set_state(tp, ST_WAIT_ACCEPT);
            return local_abort(tp, rv, X400I_TP_DR_CONGESTION, "cannot queue CC");
        }
        return X400_OK;
    case A_REFUSE_DR:
    case A_SEND_DR:
        (void)send_dr(tp, c->reason, tr.action == A_REFUSE_DR);
        return X400_OK; /* a lost DR still ends the connection: TCP closes */
    case A_CR_IND: return on_cr(tp, c);
    case A_CC_CONF: return on_cc(tp, c);
    case A_DT_IND: return on_dt(tp, c);
    case A_DR_IND: return on_dr(tp, c);
    case A_ER_IND: return on_er(tp, c);
    case A_TCP_IND:
        x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_PROVIDER, X400_ERR_CLOSED, 0,
                       "TCP connection closed in state %s%s", state_names[from],
                       tp->hdr_have ? " inside a TPKT" : "");
        tp->state = from;
        indicate_end(tp, X400I_TP_DR_NOT_SPECIFIED);
        return X400_OK;
    case A_SEND_DT:
    case A_INVALID:
    case A_CLOSED:
        break;
    }
    return x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_INTERNAL, 0,
                          "transport state table: unhandled action %d", tr.action);
}

/* One complete TPDU (the body of one TPKT), X.224 13.2: LI, then the fixed
 * part by TPDU code. */
static int process_tpdu(x400i_tp *tp, const uint8_t *t, size_t tlen)
{
    size_t li = t[0];
    uint8_t code;
    enum tp_event ev;
    size_t fixed;
    x400i_log_hex(&tp->log, X400_LAYER_TRANSPORT, "TPDU in", t, tlen);
    if (li == 0 || li == 255)
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED,
                          t, 1, "TPDU length indicator %zu is invalid", li);
    if (li + 1 > tlen)
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED,
                          t, 1, "TPDU length indicator %zu exceeds the %zu octets present", li, tlen - 1);
    code = t[1];
    switch (code & 0xF0) {
    case TPDU_CR: ev = EV_CR; fixed = CR_FIXED; break;
    case TPDU_CC: ev = EV_CC; fixed = CR_FIXED; break;
    case TPDU_DR: ev = EV_DR; fixed = CR_FIXED; break;
    case TPDU_ER: ev = EV_ER; fixed = ER_FIXED; break;
    case TPDU_DT: ev = EV_DT; fixed = DT0_LI; break;
    default:
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_INVALID_TPDU_TYPE,
                          t, 2, "TPDU code 0x%02x (%s) is not used in class 0", code,
                          (code & 0xF0) == TPDU_DC ? "DC" : (code & 0xF0) == TPDU_ED ? "ED" :
                          (code & 0xF0) == TPDU_EA ? "EA" : (code & 0xF0) == TPDU_AK ? "AK" :
                          (code & 0xF0) == TPDU_RJ ? "RJ" : "unknown");
    }
    if ((ev == EV_DT || ev == EV_DR || ev == EV_ER) && (code & 0x0F))
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_INVALID_TPDU_TYPE,
                          t, 2, "TPDU code 0x%02x is not a valid %s code", code, event_names[ev]);
    if (li < fixed)
        return peer_error(tp, X400_LAYER_TRANSPORT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED,
                          t, 1, "%s with length indicator %zu; its fixed part needs %zu",
                          event_names[ev], li, fixed);
    if (ev != EV_DT && tlen > li + 1)
        logd(tp, "%zu octets after the %s header ignored (class 0 carries no user data there)",
             tlen - li - 1, event_names[ev]);
    if ((ev == EV_DR || ev == EV_ER) && tp->state != ST_CLOSING && tp->state != ST_CLOSED) {
        /* their variable part must at least be well formed */
        tp_params pp;
        int rv = parse_params(tp, t, ev == EV_DR ? 7 : 5, event_names[ev], 0, &pp);
        if (rv < 0) return rv;
    }
    return step(tp, ev, &(tp_ev){ t, tlen, NULL, 0, 0 });
}

/* ---- public API ------------------------------------------------------- */

int x400i_tp_new(x400i_tp **out, int initiator, const x400i_tp_config *cfg,
                 const x400i_tp_callbacks *cb, const x400_allocator *alloc, const x400_logger *log)
{
    const x400_allocator *a = x400i_alloc_or_default(alloc);
    x400i_tp *tp;
    if (!out) return X400_ERR_INVALID_ARG;
    *out = NULL;
    if (cfg && (cfg->calling_tsel_len > X400I_TSEL_MAX || cfg->called_tsel_len > X400I_TSEL_MAX ||
                (cfg->max_tpdu_size && (cfg->max_tpdu_size < 128 || cfg->max_tpdu_size > X400I_TP_TPDU_MAX))))
        return X400_ERR_INVALID_ARG;
    tp = x400i_calloc(a, 1, sizeof *tp);
    if (!tp) return X400_ERR_NOMEM;
    tp->alloc = *a;
    if (log) tp->log = *log;
    if (cb) tp->cb = *cb;
    if (cfg) tp->cfg = *cfg;
    if (!tp->cfg.max_tpdu_size) tp->cfg.max_tpdu_size = X400I_TP_TPDU_MAX;
    if (!tp->cfg.max_tsdu) tp->cfg.max_tsdu = DEFAULT_MAX_TSDU;
    if (!tp->cfg.max_output) tp->cfg.max_output = DEFAULT_MAX_OUTPUT;
    if (!tp->cfg.local_ref) tp->cfg.local_ref = 1;
    tp->initiator = initiator != 0;
    tp->state = initiator ? ST_IDLE : ST_LISTEN;
    tp->tpdu_size = X400I_TP_TPDU_DEFAULT;
    /* a CR may be up to 255 octets whatever our own maximum */
    x400i_buf_init(&tp->in, &tp->alloc,
                   tp->cfg.max_tpdu_size > 256 ? tp->cfg.max_tpdu_size : 256);
    x400i_buf_init(&tp->tsdu, &tp->alloc, tp->cfg.max_tsdu);
    x400i_buf_init(&tp->out, &tp->alloc, 0);
    *out = tp;
    return X400_OK;
}

void x400i_tp_free(x400i_tp *tp)
{
    x400_allocator a;
    if (!tp) return;
    x400i_buf_free(&tp->in);
    x400i_buf_free(&tp->tsdu);
    x400i_buf_free(&tp->out);
    a = tp->alloc;
    x400i_free(&a, tp);
}

int x400i_tp_connect(x400i_tp *tp)
{
    if (!tp) return X400_ERR_INVALID_ARG;
    return step(tp, EV_CONNECT_REQ, &(tp_ev){ NULL, 0, NULL, 0, 0 });
}

int x400i_tp_send(x400i_tp *tp, const uint8_t *tsdu, size_t n)
{
    if (!tp || (!tsdu && n)) return X400_ERR_INVALID_ARG;
    return step(tp, EV_DATA_REQ, &(tp_ev){ NULL, 0, tsdu, n, 0 });
}

int x400i_tp_disconnect(x400i_tp *tp, int reason)
{
    if (!tp || reason < 0 || reason > 255) return X400_ERR_INVALID_ARG;
    return step(tp, EV_DISC_REQ, &(tp_ev){ NULL, 0, NULL, 0, reason });
}

void x400i_tp_transport_closed(x400i_tp *tp)
{
    if (!tp) return;
    (void)step(tp, EV_TCP_CLOSED, &(tp_ev){ NULL, 0, NULL, 0, 0 });
    /* the TCP connection is gone: nothing queued can be written any more
     * (so want_write is 0 and want_close 1 for the association above) */
    x400i_buf_reset(&tp->out);
    tp->out_off = 0;
}

/* TPKT header, RFC 1006 section 6: version 3, reserved 0, length. */
static int check_tpkt(x400i_tp *tp)
{
    size_t len = (size_t)tp->hdr[2] << 8 | tp->hdr[3];
    size_t max = tp->in.max + TPKT_HDR;
    x400i_log_hex(&tp->log, X400_LAYER_TPKT, "TPKT header in", tp->hdr, TPKT_HDR);
    if (tp->hdr[0] != TPKT_VERSION)
        return peer_error(tp, X400_LAYER_TPKT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED, NULL, 0,
                          "TPKT version %u (RFC 1006 requires 3)", tp->hdr[0]);
    if (tp->hdr[1] != 0)
        return peer_error(tp, X400_LAYER_TPKT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED, NULL, 0,
                          "TPKT reserved octet 0x%02x (must be 0)", tp->hdr[1]);
    if (len < TPKT_HDR + TPDU_MIN)
        return peer_error(tp, X400_LAYER_TPKT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED, NULL, 0,
                          "TPKT length %zu too small to carry a TPDU (minimum %d)", len,
                          TPKT_HDR + TPDU_MIN);
    if (len > max)
        return peer_error(tp, X400_LAYER_TPKT, X400_ERR_PROTOCOL, X400I_TP_ER_NOT_SPECIFIED, NULL, 0,
                          "TPKT length %zu exceeds the maximum %zu (TPDU size %u)", len, max,
                          (unsigned)tp->cfg.max_tpdu_size);
    tp->body_need = len - TPKT_HDR;
    return X400_OK;
}

int x400i_tp_input(x400i_tp *tp, const uint8_t *p, size_t n)
{
    size_t off = 0;
    int rv = X400_OK;
    if (!tp || (!p && n)) return X400_ERR_INVALID_ARG;
    if (tp->busy)
        return x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_STATE, 0,
                              "x400i_tp_input called from a transport callback");
    if (tp->state == ST_CLOSED)
        return x400i_diag_set(&tp->diag, X400_LAYER_TRANSPORT, X400_SOURCE_LOCAL, X400_ERR_CLOSED, 0,
                              "input after the transport connection ended");
    if (tp->state == ST_CLOSING) return (int)(n > INT32_MAX ? INT32_MAX : n); /* discarded */
    if (n > INT32_MAX) n = INT32_MAX; /* the return value is the count consumed */
    tp->busy = 1;
    while (off < n && rv >= 0 && tp->state != ST_CLOSED && tp->state != ST_CLOSING) {
        if (tp->hdr_have < TPKT_HDR) {
            size_t k = TPKT_HDR - tp->hdr_have;
            if (k > n - off) k = n - off;
            memcpy(tp->hdr + tp->hdr_have, p + off, k);
            tp->hdr_have += k;
            off += k;
            if (tp->hdr_have == TPKT_HDR) rv = check_tpkt(tp);
            continue;
        }
        if (tp->in.len == 0 && n - off >= tp->body_need) {
            /* the whole TPDU is in the caller's buffer: no copy */
            const uint8_t *t = p + off;
            off += tp->body_need;
            tp->hdr_have = 0;
            rv = process_tpdu(tp, t, tp->body_need);
        } else {
            size_t k = tp->body_need - tp->in.len;
            if (k > n - off) k = n - off;
            if (x400i_buf_append(&tp->in, p + off, k) < 0) {
                rv = local_abort(tp, X400_ERR_NOMEM, X400I_TP_DR_CONGESTION,
                                 "no memory to buffer a TPKT of %zu octets", tp->body_need);
                break;
            }
            off += k;
            if (tp->in.len == tp->body_need) {
                tp->hdr_have = 0;
                rv = process_tpdu(tp, tp->in.p, tp->in.len);
                tp->in.len = 0;
            }
        }
    }
    tp->busy = 0;
    return rv < 0 ? rv : (int)n;
}

size_t x400i_tp_pending(const x400i_tp *tp, const uint8_t **p)
{
    if (!tp) { if (p) *p = NULL; return 0; }
    if (p) *p = tp->out.p ? tp->out.p + tp->out_off : NULL;
    return tp->out.len - tp->out_off;
}

void x400i_tp_sent(x400i_tp *tp, size_t n)
{
    if (!tp) return;
    if (n > tp->out.len - tp->out_off) n = tp->out.len - tp->out_off;
    tp->out_off += n;
    if (tp->out_off == tp->out.len) tp->out_off = tp->out.len = 0;
}

int x400i_tp_is_open(const x400i_tp *tp) { return tp && tp->state == ST_OPEN; }

int x400i_tp_want_close(const x400i_tp *tp)
{
    return tp && (tp->state == ST_CLOSED || tp->state == ST_CLOSING) &&
           tp->out.len == tp->out_off;
}

uint32_t x400i_tp_tpdu_size(const x400i_tp *tp) { return tp ? tp->tpdu_size : 0; }

const x400_diag *x400i_tp_diag(const x400i_tp *tp) { return tp ? &tp->diag : NULL; }

const char *x400i_tp_state_name(const x400i_tp *tp)
{
    return tp ? state_names[tp->state] : "none";
}
