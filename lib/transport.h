/*
 * Transport layer: RFC 1006 TPKT framing + ITU-T X.224 class 0
 * (CR, CC, DR, DT with EOT segmentation/reassembly, ER).  Internal, not
 * installed.  Sans-I/O: bytes from TCP go in through x400i_tp_input(),
 * bytes for TCP come out through x400i_tp_pending()/x400i_tp_sent(),
 * events go up through the callbacks.  See doc/architecture.md ("Transport").
 *
 * Threading: an x400i_tp is not internally locked; one thread at a time
 * per object.  Distinct objects are independent.
 *
 * Reentrancy: from inside a callback the user may call x400i_tp_send(),
 * x400i_tp_disconnect(), x400i_tp_pending(), x400i_tp_is_open() and
 * x400i_tp_diag(); x400i_tp_input() returns X400_ERR_STATE when called
 * from a callback, and x400i_tp_free() must not be called from one.
 */
#ifndef X400P1_TRANSPORT_H
#define X400P1_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "x400p1/common.h"

typedef struct x400i_tp x400i_tp;

#define X400I_TSEL_MAX 32

/* RFC 1006: the TPKT length field is 16 bits and includes its 4-octet
 * header, so the largest TPDU is 65531 octets. */
#define X400I_TP_TPDU_MAX 65531u
/* X.224 13.3.4 b): class 0 default TPDU size when none is negotiated. */
#define X400I_TP_TPDU_DEFAULT 128u

/* Disconnect reasons, X.224 13.5.3 e) (the DR "reason" octet). */
enum {
    X400I_TP_DR_NOT_SPECIFIED = 0,       /* reason not specified */
    X400I_TP_DR_CONGESTION = 1,          /* congestion at TSAP */
    X400I_TP_DR_NOT_ATTACHED = 2,        /* session entity not attached to TSAP */
    X400I_TP_DR_ADDRESS_UNKNOWN = 3,     /* address unknown */
    X400I_TP_DR_NORMAL = 128,            /* normal disconnect initiated by session entity */
    X400I_TP_DR_REMOTE_CONGESTION = 129, /* remote transport entity congestion at connect time */
    X400I_TP_DR_NEGOTIATION_FAILED = 130,/* connection negotiation failed (class not supported) */
    X400I_TP_DR_DUPLICATE_REF = 131,     /* duplicate source reference */
    X400I_TP_DR_MISMATCHED_REFS = 132,   /* mismatched references */
    X400I_TP_DR_PROTOCOL_ERROR = 133,    /* protocol error */
    X400I_TP_DR_REF_OVERFLOW = 135,      /* reference overflow */
    X400I_TP_DR_REFUSED = 136,           /* connection request refused on this network connection */
    X400I_TP_DR_HEADER_INVALID = 138     /* header or parameter length invalid */
};

/* ER reject causes, X.224 13.12.3 d). */
enum {
    X400I_TP_ER_NOT_SPECIFIED = 0,
    X400I_TP_ER_INVALID_PARAM_CODE = 1,
    X400I_TP_ER_INVALID_TPDU_TYPE = 2,
    X400I_TP_ER_INVALID_PARAM_VALUE = 3
};

typedef struct x400i_tp_config {
    uint8_t calling_tsel[X400I_TSEL_MAX]; size_t calling_tsel_len;
    uint8_t called_tsel[X400I_TSEL_MAX];  size_t called_tsel_len;
    uint32_t max_tpdu_size;   /* largest TPDU we propose/accept, 128..65531 (RFC 1006 max); 0 = 65531 */
    int omit_tpdu_size;       /* initiator: send CR without TPDU-size params (then the class 0 default of 128 applies, as real MTAs do) */
    size_t max_tsdu;          /* bound on one reassembled TSDU; 0 = 16 MiB */
    size_t max_output;        /* bound on queued, unsent output bytes; 0 = 64 MiB */
    uint16_t local_ref;       /* our SRC-REF in CR/CC/DR; 0 = 1 (class 0 over RFC 1006 makes no use of it) */
} x400i_tp_config;

typedef struct x400i_tp_conn_info {  /* what a CR/CC carried */
    const uint8_t *calling_tsel; size_t calling_tsel_len;
    const uint8_t *called_tsel; size_t called_tsel_len;
    uint32_t tpdu_size;       /* negotiated max TPDU size */
    uint16_t src_ref, dst_ref;
} x400i_tp_conn_info;

typedef struct x400i_tp_callbacks {
    void *user;
    /* Responder: a CR arrived.  Return 0 to accept (CC queued) or a positive
     * X.224 disconnect reason (1..255) to refuse (DR queued; the object then
     * waits for the TCP close).  A negative return refuses with reason 0 and
     * makes x400i_tp_input() return X400_ERR_CALLBACK_FAILURE.  NULL: accept.
     * `ci` and the selectors it points to are valid during the call only. */
    int (*connect_ind)(void *user, const x400i_tp_conn_info *ci);
    /* Initiator: CC arrived; connection open.  TSAP selectors absent from the
     * CC are reported as those of our CR.  View valid during the call. */
    void (*connect_conf)(void *user, const x400i_tp_conn_info *ci);
    /* One complete TSDU (DTs up to EOT reassembled).  View valid during the call.
     * Return < 0 to abort the transport connection (DR queued, reason 0;
     * x400i_tp_input() returns X400_ERR_CALLBACK_FAILURE, no disconnect_ind). */
    int (*data_ind)(void *user, const uint8_t *tsdu, size_t len);
    /* Connection ended: DR/ER received, or locally detected error.  diag says who/why.
     * Called at most once per object, never for an end the user asked for
     * (x400i_tp_disconnect, a refusal or error returned from a callback).
     * `reason`: the DR reason received or sent; X400I_TP_DR_PROTOCOL_ERROR
     * when an ER was received or sent; 0 when TCP closed under us. */
    void (*disconnect_ind)(void *user, int reason, const x400_diag *diag);
} x400i_tp_callbacks;

/* Create a transport endpoint.  initiator != 0: calling side (use
 * x400i_tp_connect); 0: called side (waits for a CR).  cfg may be NULL
 * (defaults, no selectors); it is copied.  cb is copied (NULL = no
 * callbacks).  alloc (NULL = default) is copied; log (may be NULL) is copied.
 * Returns X400_OK, X400_ERR_INVALID_ARG (bad sizes/selector lengths) or
 * X400_ERR_NOMEM.  Free with x400i_tp_free(). */
int  x400i_tp_new(x400i_tp **out, int initiator, const x400i_tp_config *cfg,
                  const x400i_tp_callbacks *cb, const x400_allocator *alloc, const x400_logger *log);
/* Free the object and its buffers.  NULL is a no-op. */
void x400i_tp_free(x400i_tp *tp);
/* T-CONNECT request, X.224 13.3: queue a CR.  X400_OK, X400_ERR_STATE
 * (not an initiator, or already connecting), X400_ERR_CLOSED, X400_ERR_NOMEM. */
int  x400i_tp_connect(x400i_tp *tp);
/* Bytes from TCP, any split.  Input belongs to the caller; whatever must
 * outlive the call is copied (bounded by max_tpdu_size + 4 and max_tsdu).
 * Returns n (all consumed: also when a DR/ER from the peer ended the
 * connection, which disconnect_ind reports) or a negative error when the
 * connection was aborted because of this input: X400_ERR_PROTOCOL (bad
 * TPKT/TPDU, TPDU above max_tpdu_size, or TPDU not allowed in the current
 * state; ER queued), X400_ERR_LIMIT (TSDU above max_tsdu; DR reason 1),
 * X400_ERR_NOMEM (DR reason 1 when possible), X400_ERR_UNSUPPORTED (CR
 * without class 0; DR reason 130) -- each after disconnect_ind -- or
 * X400_ERR_CALLBACK_FAILURE (a callback asked to abort; DR reason 0).
 * Once the connection has ended, X400_ERR_CLOSED.  X400_ERR_STATE when
 * called from a callback (nothing consumed). */
int  x400i_tp_input(x400i_tp *tp, const uint8_t *p, size_t n);
/* T-DATA request, X.224 13.7: queue the TSDU as DTs of the negotiated TPDU
 * size, EOT on the last (n == 0 gives one empty DT with EOT).  The data is
 * copied.  All or nothing: X400_OK, X400_ERR_LIMIT (would exceed
 * max_output: drain and retry), X400_ERR_STATE (not open), X400_ERR_CLOSED,
 * X400_ERR_NOMEM. */
int  x400i_tp_send(x400i_tp *tp, const uint8_t *tsdu, size_t n);
/* T-DISCONNECT request, X.224 13.5: queue a DR with `reason` (0..255) when a
 * connection exists or is being accepted (inside connect_ind: refusal);
 * before that (CR not answered yet) nothing can be sent and the object just
 * closes.  X400_OK (also when already closing/closed) or X400_ERR_INVALID_ARG. */
int  x400i_tp_disconnect(x400i_tp *tp, int reason);
/* Bytes to write to TCP; *p is a view valid until the next call on tp. */
size_t x400i_tp_pending(const x400i_tp *tp, const uint8_t **p);
/* n of those bytes were written (n larger than pending is clamped). */
void x400i_tp_sent(x400i_tp *tp, size_t n);
/* TCP closed/reset under us: disconnect_ind(reason 0, source provider)
 * unless the connection had already ended or the user asked for the end. */
void x400i_tp_transport_closed(x400i_tp *tp);
/* Non-zero while the transport connection is open (CC sent/received). */
int  x400i_tp_is_open(const x400i_tp *tp);
/* Non-zero when the transport connection is over (ended, or a DR is queued)
 * and every queued byte has been written: the TCP connection should be
 * closed now (X.224 class 0 ends with the network connection). */
int  x400i_tp_want_close(const x400i_tp *tp);
/* Negotiated max TPDU size (valid once open). */
uint32_t x400i_tp_tpdu_size(const x400i_tp *tp);
/* The last failure's detail (never NULL for a non-NULL tp). */
const x400_diag *x400i_tp_diag(const x400i_tp *tp);

/* Name of the current state ("idle", "listen", "wait-CC", "wait-accept",
 * "open", "closing", "closed"). */
const char *x400i_tp_state_name(const x400i_tp *tp);
/* Names of X.224 DR reasons and ER reject causes (never NULL). */
const char *x400i_tp_dr_reason_name(int reason);
const char *x400i_tp_er_cause_name(int cause);

#endif
