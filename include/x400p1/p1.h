/*
 * x400p1 -- the P1 codec (X.411 MTA abstract service, X.419 transfer):
 * MTS-APDUs (Message, Report, Probe), MTA-bind values, reports for a
 * received message, duplicate and loop detection.  Sans-I/O: bytes in,
 * bytes out; the association (RTSE) carries them.
 *
 * Values are plain C: fixed-size bounded strings, arrays with counts, and
 * x400_bytes views for what is kept opaque (extensions, bilateral
 * information, content).  Users never see an ASN.1 structure.
 *
 * Memory: an x400_p1_apdu owns a private arena allocated through the
 * allocator given to x400_p1_apdu_init() / x400_p1_decode().  Decoding
 * copies everything it keeps into that arena (the input may be freed
 * afterwards); x400_p1_apdu_free() releases it all.  A program building an
 * APDU may point the arrays at its own memory (not freed by the library)
 * or allocate them with x400_p1_alloc() so the APDU owns them.
 *
 * Thread safety: all functions are reentrant; an APDU or an idset must not
 * be used from two threads at once without the caller's locking.
 * See doc/p1.md for the guide.
 */
#ifndef X400P1_P1_H
#define X400P1_P1_H

#include <stddef.h>
#include <stdint.h>

#include "x400p1/common.h"
#include "x400p1/mtsid.h"
#include "x400p1/orname.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ basics */

/* A view of bytes (not NUL-terminated).  {NULL, 0} = absent. */
typedef struct x400_bytes {
    const uint8_t *p;
    size_t len;
} x400_bytes;

/* Time values are seconds since the POSIX epoch (UTC); encoded as
 * UTCTime "YYMMDDHHMMSSZ" (years 1950..2049).  X400_TIME_NONE = absent. */
#define X400_TIME_NONE INT64_MIN


/* 1 when two MTSIdentifiers are equal (every GDI field, choice of string
 * type, local identifier), else 0. */
int x400_mtsid_equal(const x400_mtsid *a, const x400_mtsid *b);

/* ------------------------------------------------------------ limits */

/* Enforced BEFORE anything is decoded or allocated: x400_p1_prescan()
 * walks the TLVs once (no allocation) checking size, depth and element
 * count; list sizes are counted before their arrays are allocated.
 * Defaults (x400_p1_limits_init) are the X.411 upper bounds. */
typedef struct x400_p1_limits {
    size_t max_pdu;            /* whole APDU in octets; default
                                  ub-content-length + 1 MiB of envelope */
    size_t max_content;        /* content octets; ub-content-length
                                  (2^31 - 1) */
    unsigned max_recipients;   /* ub-recipients (32767) */
    unsigned max_trace;        /* elements of one trace list;
                                  ub-transfers (512) */
    unsigned max_extensions;   /* extensions in one list; ub-extension-types
                                  (256) */
    unsigned max_depth;        /* TLV nesting (default 64) */
    size_t max_elements;       /* TLVs in the whole APDU (default 8 M) */
} x400_p1_limits;

void x400_p1_limits_init(x400_p1_limits *lim);

/* Reasons (x400_diag.reason, layer X400_LAYER_P1). */
typedef enum x400_p1_reason {
    X400_P1_R_NONE = 0,
    X400_P1_R_SYNTAX,          /* malformed BER (length, tag, EOC) */
    X400_P1_R_PDU_SIZE,        /* APDU larger than max_pdu */
    X400_P1_R_DEPTH,           /* nesting deeper than max_depth */
    X400_P1_R_ELEMENTS,        /* more TLVs than max_elements */
    X400_P1_R_RECIPIENTS,      /* more recipients than max_recipients */
    X400_P1_R_TRACE,           /* trace longer than max_trace */
    X400_P1_R_EXTENSIONS,      /* more extensions than max_extensions */
    X400_P1_R_CONTENT_SIZE,    /* content larger than max_content */
    X400_P1_R_UNEXPECTED,      /* element not allowed here / repeated */
    X400_P1_R_MISSING,         /* mandatory element absent */
    X400_P1_R_VALUE,           /* value outside its type or bound */
    X400_P1_R_CONTENT_TYPE,    /* content-type malformed or out of range */
    X400_P1_R_ORNAME,          /* bad O/R name */
    X400_P1_R_APDU,            /* not an MTS-APDU / wrong bind PDU */
    X400_P1_R_CREDENTIALS,     /* bind credentials refused */
    X400_P1_R_ENCODE           /* value cannot be encoded (builder error) */
} x400_p1_reason;

/* ------------------------------------------------------------ envelope */

/* Built-in content types (X.411 BuiltInContentType). */
#define X400_CT_UNIDENTIFIED 0
#define X400_CT_EXTERNAL 1
#define X400_CT_P2_1984 2
#define X400_CT_P2_1988 22
#define X400_CT_EDI 35
#define X400_CT_VOICE 40

typedef struct x400_p1_content_type {
    int builtin;     /* 0..32767 (ub-built-in-content-type), or -1: oid */
    x400_oid oid;    /* ExtendedContentType when builtin == -1 */
} x400_p1_content_type;

/* Priority (X.411 Priority). */
#define X400_PRIO_NORMAL 0
#define X400_PRIO_NON_URGENT 1
#define X400_PRIO_URGENT 2

/* PerMessageIndicators bits (bit n of the BIT STRING = 1u << n). */
#define X400_PMI_DISCLOSURE_OF_RECIPIENTS (1u << 0)
#define X400_PMI_IMPLICIT_CONVERSION_PROHIBITED (1u << 1)
#define X400_PMI_ALTERNATE_RECIPIENT_ALLOWED (1u << 2)
#define X400_PMI_CONTENT_RETURN_REQUEST (1u << 3)
#define X400_PMI_SERVICE_MESSAGE (1u << 7)

/* PerRecipientIndicators bits (always at least 8 bits on the wire). */
#define X400_PRI_RESPONSIBILITY (1u << 0)
#define X400_PRI_ORIGINATING_MTA_REPORT (1u << 1)
#define X400_PRI_ORIGINATING_MTA_NDR (1u << 2)
#define X400_PRI_ORIGINATOR_REPORT (1u << 3)
#define X400_PRI_ORIGINATOR_NDR (1u << 4)

/* EncodedInformationTypes (original, or converted in trace). */
#define X400_EIT_EXTENDED_MAX 8
typedef struct x400_p1_eits {
    int present;
    uint32_t builtin;           /* BuiltInEncodedInformationTypes bits */
    x400_bytes nonbasic;        /* g3-facsimile [1] / teletex [2] TLVs,
                                   opaque, relayed as they came */
    unsigned n_extended;
    x400_oid extended[X400_EIT_EXTENDED_MAX];
} x400_p1_eits;

/* Routing action and other actions of a trace element. */
#define X400_ROUTE_RELAYED 0
#define X400_ROUTE_REROUTED 1
#define X400_OTHER_REDIRECTED (1u << 0)
#define X400_OTHER_DL_OPERATION (1u << 1)

/* TraceInformationElement (X.411 12.2.1.1.1.10): appended by each domain. */
typedef struct x400_p1_trace {
    x400_gdi gdi;
    int64_t arrival;                 /* required */
    int routing_action;              /* X400_ROUTE_* */
    int has_attempted_domain;
    x400_gdi attempted_domain;
    int64_t deferred;                /* X400_TIME_NONE = absent */
    x400_p1_eits converted;          /* converted-encoded-information-types */
    uint32_t other_actions;          /* X400_OTHER_* */
} x400_p1_trace;

/* InternalTraceInformationElement: appended by each MTA (carried as the
 * internal-trace-information extension, standard-extension 38). */
#define X400_MTA_NAME_MAX 32           /* ub-mta-name-length */
#define X400_ATTEMPTED_NONE 0
#define X400_ATTEMPTED_MTA 1
#define X400_ATTEMPTED_DOMAIN 2
typedef struct x400_p1_itrace {
    x400_gdi gdi;
    char mta[X400_MTA_NAME_MAX + 1];  /* MTAName, IA5 1..32 */
    int64_t arrival;
    int routing_action;
    int attempted;                    /* X400_ATTEMPTED_* */
    char attempted_mta[X400_MTA_NAME_MAX + 1];
    x400_gdi attempted_domain;
    int64_t deferred;
    x400_p1_eits converted;
    uint32_t other_actions;
} x400_p1_itrace;

/* PerDomainBilateralInformation: country + ADMD (+ PRMD) in `domain`
 * (prmd "" = ADMD only), the bilateral-information kept opaque (its BER). */
typedef struct x400_p1_bilateral {
    x400_gdi domain;
    x400_bytes info;
} x400_p1_bilateral;

/* Extensions are kept opaque: each is the whole ExtensionField TLV, relayed
 * byte for byte.  x400_p1_ext_info() reads one; x400_p1_ext_build() makes
 * one.  The internal-trace-information extension (38) is not listed here: it
 * is decoded into itrace[] and encoded from it. */
#define X400_EXT_INTERNAL_TRACE 38
/* The two encodings of ExtensionField `type` met on the wire:
 *   1992+ (X.411 (1992) onwards): ExtensionType ::= CHOICE {
 *         standard-extension [0] IMPLICIT INTEGER,
 *         private-extension [3] IMPLICIT OBJECT IDENTIFIER }  (80 01 26)
 *   1988  (X.411 (1988), PP/ISODE): type [0] ExtensionType, the CHOICE of an
 *         untagged INTEGER or OBJECT IDENTIFIER, so [0] is explicit:
 *         a0 03 02 01 26 / a0 n 06 ...
 * Both are decoded.  The encoder writes the form asked for (per APDU,
 * per link); the default is 1992. */
typedef enum x400_p1_ext_form {
    X400_P1_EXT_FORM_1992 = 0,
    X400_P1_EXT_FORM_1988 = 1
} x400_p1_ext_form;

typedef struct x400_p1_ext_view {
    int standard;        /* standard-extension number, or -1 */
    x400_oid private_type;/* private-extension when standard == -1 */
    uint32_t criticality;/* bit 0 submission, 1 transfer, 2 delivery */
    x400_bytes value;    /* BER of the value (inside [2]); {NULL,0} absent */
    x400_p1_ext_form form; /* decode: the form of `type`; build: the form written */
} x400_p1_ext_view;

int x400_p1_ext_info(x400_bytes ext, x400_p1_ext_view *out, x400_diag *diag);
/* Encode an ExtensionField into buf[cap]; *len gets its size.  X400_OK,
 * X400_ERR_BUFFER_TOO_SMALL, X400_ERR_INVALID_ARG. */
int x400_p1_ext_build(const x400_p1_ext_view *v, uint8_t *buf, size_t cap,
                      size_t *len, x400_diag *diag);

/* A recipient of a message or probe (PerRecipient{Message,Probe}
 * TransferFields). */
typedef struct x400_p1_recipient {
    x400_orname name;
    uint32_t osrn;                  /* originally-specified-recipient-number,
                                       1..32767 */
    uint32_t indicators;            /* X400_PRI_* (bits 0..15) */
    int explicit_conversion;        /* -1 absent, else 0..256 */
    unsigned n_ext;
    const x400_bytes *ext;
} x400_p1_recipient;

/* The transfer envelope of a Message or Probe. */
#define X400_CONTENT_ID_MAX 16
typedef struct x400_p1_envelope {
    x400_mtsid id;                  /* message-/probe-identifier */
    x400_orname originator;
    x400_p1_eits original_eits;
    x400_p1_content_type content_type;
    char content_id[X400_CONTENT_ID_MAX + 1];  /* "" absent */
    int priority;                   /* message only; X400_PRIO_* */
    uint32_t per_message_indicators;/* X400_PMI_* */
    int64_t deferred_delivery;      /* message only; X400_TIME_NONE absent */
    int64_t content_length;         /* probe only; -1 absent */
    unsigned n_bilateral;
    const x400_p1_bilateral *bilateral;
    unsigned n_trace;               /* >= 1 to encode */
    const x400_p1_trace *trace;
    unsigned n_itrace;
    const x400_p1_itrace *itrace;
    unsigned n_ext;
    const x400_bytes *ext;
    unsigned n_recip;               /* >= 1 to encode */
    const x400_p1_recipient *recip;
} x400_p1_envelope;

/* ------------------------------------------------------------ reports */

/* NonDeliveryReasonCode / NonDeliveryDiagnosticCode: the X.411 numbers,
 * e.g. 1 unable-to-transfer, diagnostic 0 unrecognised-OR-name,
 * 3 loop-detected, 7 content-too-long, 16 too-many-recipients. */
#define X400_NDR_TRANSFER_FAILURE 0
#define X400_NDR_UNABLE_TO_TRANSFER 1
#define X400_NDD_UNRECOGNISED_ORNAME 0
#define X400_NDD_MTS_CONGESTION 2
#define X400_NDD_LOOP_DETECTED 3
#define X400_NDD_MAXIMUM_TIME_EXPIRED 5
#define X400_NDD_CONTENT_TOO_LONG 7
#define X400_NDD_CONTENT_TYPE_NOT_SUPPORTED 15
#define X400_NDD_TOO_MANY_RECIPIENTS 16

#define X400_SUPPLEMENTARY_MAX 256
typedef struct x400_p1_report_recipient {
    x400_orname actual;             /* actual-recipient-name */
    uint32_t osrn;
    uint32_t indicators;            /* X400_PRI_* */
    /* last-trace-information */
    int64_t arrival;
    x400_p1_eits converted;
    int delivered;                  /* 1: delivery report, 0: non-delivery */
    int64_t delivery_time;          /* delivered */
    int type_of_user;               /* delivered; -1 absent (public) */
    int reason;                     /* non-delivery reason code */
    int diagnostic;                 /* non-delivery diagnostic, -1 absent */
    int has_intended;
    x400_orname intended;           /* originally-intended-recipient-name */
    char supplementary[X400_SUPPLEMENTARY_MAX + 1];  /* "" absent */
    unsigned n_ext;
    const x400_bytes *ext;
} x400_p1_report_recipient;

typedef struct x400_p1_report {
    /* ReportTransferEnvelope */
    x400_mtsid id;
    x400_orname destination;
    unsigned n_trace;
    const x400_p1_trace *trace;
    unsigned n_itrace;
    const x400_p1_itrace *itrace;
    unsigned n_ext;                 /* envelope extensions */
    const x400_bytes *ext;
    /* ReportTransferContent */
    x400_mtsid subject;             /* subject-identifier */
    int has_subject_trace;
    unsigned n_subject_trace;
    const x400_p1_trace *subject_trace;
    x400_p1_eits original_eits;
    int has_content_type;
    x400_p1_content_type content_type;
    char content_id[X400_CONTENT_ID_MAX + 1];
    int has_returned_content;
    x400_bytes returned_content;
    x400_bytes additional_info;     /* opaque BER, {NULL,0} absent */
    unsigned n_content_ext;
    const x400_bytes *content_ext;
    unsigned n_recip;
    const x400_p1_report_recipient *recip;
} x400_p1_report;

/* ------------------------------------------------------------ APDU */

typedef enum x400_p1_kind {
    X400_P1_MESSAGE = 0,  /* message [0]: envelope + content */
    X400_P1_REPORT = 1,   /* report [1] */
    X400_P1_PROBE = 2     /* probe [2]: envelope */
} x400_p1_kind;

typedef struct x400_p1_apdu {
    x400_p1_kind kind;
    x400_p1_envelope env;   /* MESSAGE and PROBE */
    x400_bytes content;     /* MESSAGE */
    x400_p1_report report;  /* REPORT */
    /* The ExtensionField `type` form written for the extensions the encoder
     * builds (internal-trace-information); opaque extensions are written as
     * received.  Decoding sets it to the form of the internal trace, else
     * of the first extension (1992 when there is none), so that decode and
     * encode round-trip; x400_p1_link_config.ext_form overrides it per peer. */
    x400_p1_ext_form ext_form;
    void *mem;              /* private: the arena */
} x400_p1_apdu;

/* Set *a to an empty APDU of `kind` with the X.411 defaults (priority
 * normal, times absent, content_length -1, builtin content type 0) and an
 * arena using `alloc` (NULL: malloc).  X400_OK or X400_ERR_NOMEM.
 * Pair with x400_p1_apdu_free(). */
int x400_p1_apdu_init(x400_p1_apdu *a, x400_p1_kind kind,
                      const x400_allocator *alloc);

/* Free everything the APDU owns (its arena).  Arrays the caller pointed it
 * at are not touched.  The APDU is zeroed.  NULL is ignored. */
void x400_p1_apdu_free(x400_p1_apdu *a);

/* Allocate n zeroed bytes owned by the APDU (freed by apdu_free).  NULL
 * when the allocator fails. */
void *x400_p1_alloc(x400_p1_apdu *a, size_t n);

/* Defaults for list elements (times absent, explicit_conversion -1, ...). */
void x400_p1_recipient_init(x400_p1_recipient *r);
void x400_p1_trace_init(x400_p1_trace *t);
void x400_p1_itrace_init(x400_p1_itrace *t);
void x400_p1_report_recipient_init(x400_p1_report_recipient *r);

/* Encode an APDU as BER (definite lengths, SET members in canonical tag
 * order) into buf[cap]; *len gets the size.  The whole value is checked
 * first (mandatory fields, bounds, character sets).  X400_OK;
 * X400_ERR_BUFFER_TOO_SMALL; X400_ERR_INVALID_ARG / X400_ERR_TOO_LONG for
 * a value that cannot be encoded (detail in *diag, reason X400_P1_R_ENCODE
 * or the field's reason).  Thread-safe for distinct outputs. */
int x400_p1_encode(const x400_p1_apdu *a, uint8_t *buf, size_t cap,
                   size_t *len, x400_diag *diag);

/* The same into a buffer allocated with `alloc` (NULL: malloc); the caller
 * frees *out with the same allocator.  X400_ERR_NOMEM as well. */
int x400_p1_encode_alloc(const x400_p1_apdu *a, const x400_allocator *alloc,
                         uint8_t **out, size_t *len, x400_diag *diag);

/* Pre-scan only (no allocation): X400_OK when buf[len] is exactly one BER
 * TLV inside the limits (size, depth, elements), else X400_ERR_LIMIT or
 * X400_ERR_PARSE with the reason. */
int x400_p1_prescan(const uint8_t *buf, size_t len,
                    const x400_p1_limits *lim, x400_diag *diag);

/* Decode one MTS-APDU (the value of the EXTERNAL the RTSE transfer
 * carries) into *out, which the call initialises (any previous content is
 * NOT freed).  `lim` NULL = defaults.  Definite and indefinite lengths are
 * accepted.  Returns X400_OK, or (out left empty, nothing leaked):
 *   X400_ERR_LIMIT   pre-scan or list/content limit (reason R_PDU_SIZE,
 *                    R_DEPTH, R_ELEMENTS, R_RECIPIENTS, R_TRACE,
 *                    R_EXTENSIONS, R_CONTENT_SIZE);
 *   X400_ERR_PARSE   malformed BER or a value outside its type (R_SYNTAX,
 *                    R_UNEXPECTED, R_MISSING, R_VALUE, R_CONTENT_TYPE,
 *                    R_ORNAME, R_APDU);
 *   X400_ERR_NOMEM.
 * diag: layer X400_LAYER_P1, source X400_SOURCE_PEER, the element named. */
int x400_p1_decode(const uint8_t *buf, size_t len, const x400_p1_limits *lim,
                   const x400_allocator *alloc, x400_p1_apdu *out,
                   x400_diag *diag);

/* Read what can be read of a message or probe that x400_p1_decode()
 * refused, to report on it: identifier, originator, content type, trace and
 * recipients, each kept only when it decodes by itself; everything else is
 * skipped.  X400_OK when the identifier, the originator and the recipients
 * were read: *out is then a message (without content) or probe fit for
 * x400_p1_report_build(); free it with x400_p1_apdu_free().  Else
 * X400_ERR_PARSE / X400_ERR_LIMIT (nothing to free); a report is never
 * salvaged (X.411: no report on a report). */
int x400_p1_salvage(const uint8_t *buf, size_t len, const x400_p1_limits *lim,
                    const x400_allocator *alloc, x400_p1_apdu *out,
                    x400_diag *diag);

/* Relay support: append a trace element to env.trace / an internal trace
 * element to env.itrace (or report.trace / report.itrace for a report),
 * copying the list into the APDU's arena.  X400_OK, X400_ERR_NOMEM,
 * X400_ERR_LIMIT (ub-transfers reached). */
int x400_p1_trace_append(x400_p1_apdu *a, const x400_p1_trace *t);
int x400_p1_itrace_append(x400_p1_apdu *a, const x400_p1_itrace *t);

/* Loop check (X.411 14.3.1 / 14.4.1): does the message, probe or report
 * show that it already passed this MTA?  Returns
 *   0                       no loop;
 *   X400_P1_LOOP_MTA        an internal trace element carries this MTA's
 *                           GDI and MTA name;
 *   X400_P1_LOOP_DOMAIN     the trace shows this domain, then another
 *                           domain after it (the message left and came
 *                           back);
 *   X400_ERR_INVALID_ARG. */
#define X400_P1_LOOP_MTA 1
#define X400_P1_LOOP_DOMAIN 2
int x400_p1_loop_check(const x400_p1_apdu *a, const x400_gdi *gdi,
                       const char *mta_name);

/* The identifier of an APDU (message-, probe- or report-identifier). */
const x400_mtsid *x400_p1_apdu_id(const x400_p1_apdu *a);

/* ------------------------------------------------------------ building reports */

/* What happened to one recipient of a subject message/probe. */
typedef struct x400_p1_outcome {
    unsigned recip;          /* index into subject->env.recip */
    int delivered;           /* 1 delivered, 0 not */
    int64_t time;            /* delivery time (delivered) */
    int reason;              /* non-delivery reason code */
    int diagnostic;          /* non-delivery diagnostic code or -1 */
    const char *supplementary; /* NULL or PrintableString 1..256 */
} x400_p1_outcome;

/* Build in *rep (initialised by this call, with `alloc`) the report on
 * `subject` (a decoded or built message or probe) for the given outcomes:
 * report-identifier `report_id`, destination = the subject's originator,
 * trace = one element {gdi, now, relayed}, subject-identifier and
 * subject-intermediate-trace = the subject's id and trace, content type and
 * identifier copied, per recipient the actual recipient name, its number,
 * indicators and last-trace {arrival, delivery or non-delivery}.  The
 * content is returned in a non-delivery report when the subject asked for
 * it (X400_PMI_CONTENT_RETURN_REQUEST).  The report owns copies of
 * everything (the subject may be freed afterwards).  X400_OK;
 * X400_ERR_INVALID_ARG (recipient index out of range, repeated, no outcome,
 * subject is a report); X400_ERR_NOMEM. */
int x400_p1_report_build(x400_p1_apdu *rep, const x400_p1_apdu *subject,
                         const x400_mtsid *report_id, const x400_gdi *gdi,
                         int64_t arrival, int64_t now,
                         const x400_p1_outcome *outcomes, size_t n,
                         const x400_allocator *alloc, x400_diag *diag);

/* 1 when `rep` is a report on the message or probe identified by `subject`
 * (its subject-identifier equals it), else 0. */
int x400_p1_report_matches(const x400_p1_apdu *rep, const x400_mtsid *subject);

/* ------------------------------------------------------------ MTA bind */

/* Carriage of the bind values inside RTSE ConnectionData:
 *   NORMAL (1988): a ROS bind-invoke [16] / bind-result [17] /
 *                  bind-error [18] around the value, as real MTAs send;
 *   X410 (1984):   the value itself (MTABindArgument in RTORQ open,
 *                  MTABindResult in RTOAC, MTABindError in RTORJ).
 * (x400_mode, x400p1/common.h) */

typedef enum x400_p1_bind_pdu {
    X400_P1_BIND_ARGUMENT = 0,
    X400_P1_BIND_RESULT = 1,
    X400_P1_BIND_ERROR = 2
} x400_p1_bind_pdu;

typedef enum x400_p1_cred {
    X400_CRED_SIMPLE_IA5 = 0,   /* Password ia5-string */
    X400_CRED_SIMPLE_OCTETS,    /* Password octet-string */
    X400_CRED_STRONG,           /* [0] StrongCredentials (opaque) */
    X400_CRED_PROTECTED         /* [1] ProtectedPassword (opaque) */
} x400_p1_cred;

/* MTABindError values (X.411 12.1.1.3). */
#define X400_BIND_ERR_BUSY 0
#define X400_BIND_ERR_AUTHENTICATION 2
#define X400_BIND_ERR_DIALOGUE_MODE 3
#define X400_BIND_ERR_SECURITY_CONTEXT 4
#define X400_BIND_ERR_CONFIDENTIALITY 5

#define X400_PASSWORD_MAX 62            /* ub-password-length */
typedef struct x400_p1_bind {
    x400_p1_bind_pdu pdu;
    /* ARGUMENT / RESULT */
    int authenticated;              /* 0: unauthenticated (NULL) */
    char name[X400_MTA_NAME_MAX + 1];   /* initiator-/responder-name */
    x400_p1_cred cred;
    uint8_t password[X400_PASSWORD_MAX];
    size_t password_len;
    x400_bytes strong;              /* STRONG/PROTECTED: the BER of the
                                       credentials' contents (a view into
                                       the decoded input) */
    x400_bytes security_context;    /* ARGUMENT: SecurityContext BER, a view;
                                       {NULL,0} absent */
    /* ERROR */
    int error;                      /* X400_BIND_ERR_* */
} x400_p1_bind;

/* Encode a bind value for `mode` into buf[cap].  X400_OK,
 * X400_ERR_BUFFER_TOO_SMALL, X400_ERR_INVALID_ARG (empty/over-long name,
 * bad characters, password > 62, error outside 0..256, a security context
 * in a result), X400_ERR_TOO_LONG. */
int x400_p1_bind_encode(const x400_p1_bind *b, x400_mode mode,
                        uint8_t *buf, size_t cap, size_t *len,
                        x400_diag *diag);

/* Decode a bind value.  NORMAL: the ROS tag says which PDU (`expect` may be
 * -1 for any, else it must match).  X410: `expect` is required (the RTSE
 * APDU that carried it tells).  Strong and protected credentials are
 * decoded (kept as views into buf); x400_p1_cred_check_default() refuses them.
 * X400_OK; X400_ERR_PARSE (reason R_SYNTAX/R_VALUE/R_APDU/...);
 * X400_ERR_LIMIT (nesting, size); X400_ERR_INVALID_ARG. */
int x400_p1_bind_decode(const uint8_t *buf, size_t len, x400_mode mode,
                        int expect, x400_p1_bind *out, x400_diag *diag);

/* A peer MTA the responder knows: its name and simple password. */
typedef struct x400_p1_peer {
    const char *mta_name;
    const uint8_t *password;
    size_t password_len;
    int require_auth;        /* 0: an unauthenticated bind is accepted */
} x400_p1_peer;

/* A credential checker: return X400_OK to accept, else set *bind_error
 * (X400_BIND_ERR_*) and return a negative error. */
typedef int (*x400_p1_cred_check_fn)(void *user, const x400_p1_bind *arg,
                                     int *bind_error, x400_diag *diag);

/* The default checker (matches x400_p1_cred_check_fn with user = a
 * x400_p1_peer_table).  The name is matched exactly, the password (IA5 or
 * OCTET STRING alike) in constant time (time independent of where the
 * passwords differ and of the expected length).  Refusals:
 *   unknown name / wrong password / unauthenticated while required
 *       -> X400_ERR_REFUSED, X400_BIND_ERR_AUTHENTICATION;
 *   strong or protected credentials
 *       -> X400_ERR_UNSUPPORTED, X400_BIND_ERR_AUTHENTICATION;
 *   a security context -> X400_ERR_UNSUPPORTED,
 *       X400_BIND_ERR_SECURITY_CONTEXT;
 *   not a bind argument -> X400_ERR_INVALID_ARG.
 * diag: layer P1, source PEER, reason X400_P1_R_CREDENTIALS. */
typedef struct x400_p1_peer_table {
    const x400_p1_peer *peers;
    size_t n;
} x400_p1_peer_table;
int x400_p1_cred_check_default(void *peer_table, const x400_p1_bind *arg,
                               int *bind_error, x400_diag *diag);

/* Constant-time comparison of two byte strings (1 equal, 0 not): the time
 * depends only on max(alen, blen). */
int x400_p1_secret_equal(const uint8_t *a, size_t alen, const uint8_t *b,
                         size_t blen);

/* ------------------------------------------------------------ duplicates */

/* A bounded set of received MTSIdentifiers: recognises a message, probe or
 * report seen again.  When full, inserting evicts the oldest entry.
 * O(1) insert/lookup (open addressing).  Not thread-safe: lock around it. */
typedef struct x400_p1_idset x400_p1_idset;

/* capacity 1..2^24.  X400_OK, X400_ERR_INVALID_ARG, X400_ERR_NOMEM. */
int x400_p1_idset_new(x400_p1_idset **out, size_t capacity,
                      const x400_allocator *alloc);
void x400_p1_idset_free(x400_p1_idset *s);
/* X400_OK (inserted), X400_ERR_DUPLICATE (already present: a duplicate),
 * X400_ERR_INVALID_ARG. */
int x400_p1_idset_insert(x400_p1_idset *s, const x400_mtsid *id);
/* 1 present, 0 absent. */
int x400_p1_idset_contains(const x400_p1_idset *s, const x400_mtsid *id);
size_t x400_p1_idset_count(const x400_p1_idset *s);
size_t x400_p1_idset_capacity(const x400_p1_idset *s);

/* Persist: a blob "X4IDSET1", count, the entries oldest first, CRC-32.
 * save: *blob allocated with the set's allocator (free with it).
 * load: replaces the set's content (entries beyond its capacity: the
 * oldest are dropped).  X400_ERR_CORRUPT (bad magic, length, CRC, entry),
 * X400_ERR_NOMEM. save_file writes atomically (temp file, fsync, rename);
 * load_file: X400_ERR_NOT_FOUND when missing, X400_ERR_IO. */
int x400_p1_idset_save(const x400_p1_idset *s, uint8_t **blob, size_t *len);
int x400_p1_idset_load(x400_p1_idset *s, const uint8_t *blob, size_t len,
                       x400_diag *diag);
int x400_p1_idset_save_file(const x400_p1_idset *s, const char *path,
                            x400_diag *diag);
int x400_p1_idset_load_file(x400_p1_idset *s, const char *path,
                            x400_diag *diag);

#ifdef __cplusplus
}
#endif
#endif
