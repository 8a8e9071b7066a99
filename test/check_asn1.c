/* ASN.1 pipeline (the asn1/ modules -> asn1c 0.9.28 -> build/<variant>/asn1.o):
 * each module's generated codec encodes a representative value with the
 * exact tags of the Recommendation (X.226, X.227, X.228, X.411 + the ROS
 * bind wrappers), decodes it back, and decodes the indefinite-length
 * encodings real MTAs send.  The byte-level checks of the envelope's
 * `extensions [3]` and `per-domain-bilateral-information [1]` catch the
 * asn1c COMPONENTS OF bug (doc/asn1.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <asn_application.h>
#include <der_encoder.h>
#include <ber_decoder.h>

#include <AARE-apdu.h>
#include <AARQ-apdu.h>
#include <ACSE-EXTERNAL.h>
#include <Association-information.h>
#include <CP-type.h>
#include <CountryName.h>
#include <Credentials.h>
#include <DomainSuppliedInformation.h>
#include <ExtensionField.h>
#include <Extensions.h>
#include <GlobalDomainIdentifier.h>
#include <LastTraceInformation.h>
#include <MTABindArgument.h>
#include <MTS-APDU.h>
#include <Message.h>
#include <MessageTransferEnvelope.h>
#include <NonDeliveryReport.h>
#include <ORName.h>
#include <P-CP-normal-mode-parameters.h>
#include <P-Context-list-item.h>
#include <P-Context-list.h>
#include <P-Fully-encoded-data.h>
#include <P-PDV-list.h>
#include <PersonalName.h>
#include <PrivateDomainIdentifier.h>
#include <Criticality.h>
#include <OtherActions.h>
#include <P-User-data.h>
#include <PerDomainBilateralInformation.h>
#include <PerDomainBilateralInformationList.h>
#include <PerRecipientMessageTransferFields.h>
#include <PerRecipientProbeTransferFields.h>
#include <PerRecipientReportTransferFields.h>
#include <Probe.h>
#include <ROS-MTABind.h>
#include <RTSE-apdus.h>
#include <Report.h>
#include <ReportTransferContent.h>
#include <ReportTransferEnvelope.h>
#include <TraceInformation.h>
#include <TraceInformationElement.h>

#include "x400t.h"

/* ------------------------------------------------------------------ helpers */

static void *xcalloc(size_t n)
{
    void *p = calloc(1, n);
    ck_assert_ptr_nonnull(p);
    return p;
}
#define NEW(T) ((T *)xcalloc(sizeof(T)))

static void set_str(OCTET_STRING_t *s, const char *v)
{
    ck_assert_int_eq(OCTET_STRING_fromBuf(s, v, (int)strlen(v)), 0);
}
static void set_oid(OBJECT_IDENTIFIER_t *o, const char *dotted)
{
    long arcs[16];
    int n = OBJECT_IDENTIFIER_parse_arcs(dotted, -1, arcs, 16, NULL);
    ck_assert_int_gt(n, 1);
    ck_assert_int_eq(OBJECT_IDENTIFIER_set_arcs(o, arcs, sizeof arcs[0], (unsigned)n), 0);
}
static void set_any(ANY_t *a, const uint8_t *b, size_t n)
{
    /* ANY_t has the layout of OCTET_STRING_t (buf, size, ctx). */
    ck_assert_int_eq(OCTET_STRING_fromBuf((OCTET_STRING_t *)(void *)a, (const char *)b, (int)n), 0);
}
static long *new_long(long v)
{
    long *p = NEW(long);
    *p = v;
    return p;
}

static size_t enc(asn_TYPE_descriptor_t *td, void *s, uint8_t *buf, size_t cap)
{
    asn_enc_rval_t er = der_encode_to_buffer(td, s, buf, cap);
    ck_assert_msg(er.encoded > 0, "der_encode(%s) failed in %s", td->name,
                  er.failed_type ? er.failed_type->name : "?");
    return (size_t)er.encoded;
}

/* ber_decode that must consume exactly n bytes. */
static void *dec(asn_TYPE_descriptor_t *td, const uint8_t *b, size_t n)
{
    void *p = NULL;
    asn_dec_rval_t r = ber_decode(NULL, td, &p, b, n);
    ck_assert_msg(r.code == RC_OK && r.consumed == n,
                  "ber_decode(%s): code %d consumed %zu of %zu", td->name,
                  (int)r.code, r.consumed, n);
    return p;
}

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
    fprintf(stderr, "%s (%zu):", what, n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %02X", p[i]);
    fprintf(stderr, "\n");
}
static void ck_bytes(const uint8_t *got, size_t gotn, const uint8_t *want, size_t wantn)
{
    if (gotn != wantn || memcmp(got, want, wantn) != 0) {
        hexdump("got ", got, gotn);
        hexdump("want", want, wantn);
    }
    ck_assert_uint_eq(gotn, wantn);
    for (size_t i = 0; i < wantn; i++)
        ck_assert_msg(got[i] == want[i], "byte %zu: got %02X want %02X", i, got[i], want[i]);
}

static int str_is(const OCTET_STRING_t *s, const char *v)
{
    return (size_t)s->size == strlen(v) && memcmp(s->buf, v, s->size) == 0;
}

/* Minimal definite-length TLV walker (single-octet tags) for byte checks. */
typedef struct tlv { uint8_t tag; const uint8_t *v; size_t len, total; } tlv;

static int tlv_get(const uint8_t *p, size_t n, tlv *t)
{
    size_t len, hl = 2;
    if (n < 2 || (p[0] & 0x1F) == 0x1F) return 0;
    if (p[1] < 0x80) len = p[1];
    else {
        size_t k = p[1] & 0x7F;
        if (k == 0 || k > 4 || n < 2 + k) return 0;
        len = 0;
        for (size_t i = 0; i < k; i++) len = len << 8 | p[2 + i];
        hl += k;
    }
    if (len > n - hl) return 0;
    t->tag = p[0]; t->v = p + hl; t->len = len; t->total = hl + len;
    return 1;
}
/* The idx-th child of a constructed TLV. */
static tlv tlv_nth(const tlv *parent, size_t idx)
{
    tlv t;
    size_t off = 0;
    for (size_t i = 0;; i++) {
        ck_assert_msg(tlv_get(parent->v + off, parent->len - off, &t),
                      "no child %zu in TLV %02X", idx, parent->tag);
        if (i == idx) return t;
        off += t.total;
    }
}
/* The first child with the given tag. */
static tlv tlv_find(const tlv *parent, uint8_t tag)
{
    tlv t;
    for (size_t off = 0; off < parent->len; off += t.total) {
        ck_assert_msg(tlv_get(parent->v + off, parent->len - off, &t),
                      "bad TLV inside %02X", parent->tag);
        if (t.tag == tag) return t;
    }
    ck_abort_msg("tag %02X not found in TLV %02X", tag, parent->tag);
    return t;
}
static tlv tlv_top(const uint8_t *b, size_t n)
{
    tlv t;
    ck_assert(tlv_get(b, n, &t));
    ck_assert_uint_eq(t.total, n);
    return t;
}

/* Re-encode BER with definite lengths only: what the presentation layer
 * has to do before handing a real MTA's AARQ to asn1c 0.9.28 (see
 * doc/asn1.md, "mixed definite/indefinite lengths").  Returns the bytes
 * written, 0 on malformed input or lack of room; *used gets the input
 * length of the TLV. */
static size_t put_len(uint8_t *o, size_t len)
{
    if (len < 0x80) { o[0] = (uint8_t)len; return 1; }
    size_t k = 0;
    for (size_t v = len; v; v >>= 8) k++;
    o[0] = (uint8_t)(0x80 | k);
    for (size_t i = 0; i < k; i++) o[1 + i] = (uint8_t)(len >> (8 * (k - 1 - i)));
    return 1 + k;
}
static size_t to_definite(const uint8_t *in, size_t n, size_t *used,
                          uint8_t *out, size_t cap, int depth)
{
    size_t tl = 1, off, len = 0, w;
    int indef = 0;
    if (depth > 64 || n < 2) return 0;
    if ((in[0] & 0x1F) == 0x1F) {
        while (tl < n && (in[tl] & 0x80)) tl++;
        tl++;
    }
    if (tl >= n) return 0;
    off = tl;
    if (in[off] == 0x80) { indef = 1; off++; }
    else if (in[off] < 0x80) len = in[off++];
    else {
        size_t k = in[off++] & 0x7F;
        if (k > 4 || n - off < k) return 0;
        for (size_t i = 0; i < k; i++) len = len << 8 | in[off++];
    }
    if (!(in[0] & 0x20)) {                     /* primitive: copy */
        if (indef || len > n - off || cap < off + len) return 0;
        memcpy(out, in, off + len);
        *used = off + len;
        return off + len;
    }
    size_t end = indef ? n : off + len;
    if (end > n) return 0;
    uint8_t *tmp = malloc(cap);
    size_t tn = 0;
    if (!tmp) return 0;
    for (;;) {
        size_t u;
        if (indef) {
            if (end - off < 2) { free(tmp); return 0; }
            if (in[off] == 0 && in[off + 1] == 0) { off += 2; break; }
        } else if (off == end) break;
        w = to_definite(in + off, end - off, &u, tmp + tn, cap - tn, depth + 1);
        if (!w) { free(tmp); return 0; }
        off += u; tn += w;
    }
    uint8_t hdr[16];
    size_t hl = put_len(hdr, tn);
    if (cap < tl + hl + tn) { free(tmp); return 0; }
    memcpy(out, in, tl);
    memcpy(out + tl, hdr, hl);
    memcpy(out + tl + hl, tmp, tn);
    free(tmp);
    *used = off;
    return tl + hl + tn;
}

/* ------------------------------------------------------------------ values */

/* OIDs as content octets (wire.md). */
#define OID_ACSE        0x06, 0x04, 0x52, 0x01, 0x00, 0x01   /* 2.2.1.0.1 */
#define OID_BER         0x06, 0x02, 0x51, 0x01               /* 2.1.1 */
#define OID_MTS_TRANSFER 0x06, 0x04, 0x56, 0x00, 0x01, 0x06  /* 2.6.0.1.6 */
#define OID_MTA_RTSE    0x06, 0x04, 0x56, 0x00, 0x02, 0x0C   /* 2.6.0.2.12 */
#define OID_MTSE        0x06, 0x04, 0x56, 0x00, 0x02, 0x07   /* 2.6.0.2.7 */

/* ROS bind-invoke [16] { MTABindArgument authenticated [1] SET {
 *   initiator-name [0] "MTA-A", initiator-credentials [1] simple ia5 "secret" } } */
static const uint8_t k_bind_invoke[] = {
    0xB0, 0x13, 0xA1, 0x11,
    0x80, 0x05, 'M', 'T', 'A', '-', 'A',
    0xA1, 0x08, 0x16, 0x06, 's', 'e', 'c', 'r', 'e', 't'
};

/* RTORQ [16] { checkpointSize 63, dialogueMode monologue (explicit),
 *   connectionDataRQ [3] { open [0] <bind-invoke> } } */
static const uint8_t k_rtorq[] = {
    0xB0, 0x1F,
    0x80, 0x01, 0x3F,
    0x82, 0x01, 0x00,
    0xA3, 0x17, 0xA0, 0x15,
    0xB0, 0x13, 0xA1, 0x11,
    0x80, 0x05, 'M', 'T', 'A', '-', 'A',
    0xA1, 0x08, 0x16, 0x06, 's', 'e', 'c', 'r', 'e', 't'
};

/* AARQ [APPLICATION 0] { application-context-name [1] id-ac-mts-transfer,
 *   user-information [30] { EXTERNAL { 2.1.1, 3, single-ASN1-type [0] RTORQ } } } */
static const uint8_t k_aarq_head[] = {
    0x60, 0x36,
    0xA1, 0x06, OID_MTS_TRANSFER,
    0xBE, 0x2C, 0x28, 0x2A, OID_BER, 0x02, 0x01, 0x03, 0xA0, 0x21
    /* followed by k_rtorq */
};

static size_t build_bind_invoke(uint8_t *buf, size_t cap)
{
    ROS_MTABind_t ros;
    memset(&ros, 0, sizeof ros);
    ros.present = ROS_MTABind_PR_bind_invoke;
    ros.choice.bind_invoke.present = MTABindArgument_PR_authenticated;
    set_str(&ros.choice.bind_invoke.choice.authenticated.initiator_name, "MTA-A");
    Credentials_t *cr = &ros.choice.bind_invoke.choice.authenticated.initiator_credentials;
    cr->present = Credentials_PR_simple;
    cr->choice.simple.present = Password_PR_ia5_string;
    set_str(&cr->choice.simple.choice.ia5_string, "secret");
    size_t n = enc(&asn_DEF_ROS_MTABind, &ros, buf, cap);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_ROS_MTABind, &ros);
    return n;
}

static size_t build_rtorq(uint8_t *buf, size_t cap)
{
    uint8_t ros[128];
    size_t rn = build_bind_invoke(ros, sizeof ros);
    RTSE_apdus_t a;
    memset(&a, 0, sizeof a);
    a.present = RTSE_apdus_PR_rtorq_apdu;
    RTORQapdu_t *rq = &a.choice.rtorq_apdu;
    rq->checkpointSize = new_long(63);
    rq->dialogueMode = new_long(RTORQapdu__dialogueMode_monologue);
    rq->connectionDataRQ.present = ConnectionData_PR_open;
    set_any(&rq->connectionDataRQ.choice.open, ros, rn);
    size_t n = enc(&asn_DEF_RTSE_apdus, &a, buf, cap);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_RTSE_apdus, &a);
    return n;
}

static size_t build_aarq(uint8_t *buf, size_t cap)
{
    uint8_t rq[128];
    size_t rn = build_rtorq(rq, sizeof rq);
    AARQ_apdu_t a;
    memset(&a, 0, sizeof a);
    set_oid(&a.application_context_name, "2.6.0.1.6");
    a.user_information = NEW(Association_information_t);
    ACSE_EXTERNAL_t *ext = NEW(ACSE_EXTERNAL_t);
    ext->direct_reference = NEW(OBJECT_IDENTIFIER_t);
    set_oid(ext->direct_reference, "2.1.1");
    ext->indirect_reference = new_long(3);
    ext->encoding.present = ACSE_External_body__encoding_PR_single_ASN1_type;
    set_any(&ext->encoding.choice.single_ASN1_type, rq, rn);
    ck_assert_int_eq(ASN_SEQUENCE_ADD(&a.user_information->list, ext), 0);
    size_t n = enc(&asn_DEF_AARQ_apdu, &a, buf, cap);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_AARQ_apdu, &a);
    return n;
}

/* Decode ConnectionData `open` as a ROS bind-invoke and check it. */
static void check_bind_invoke(const ANY_t *open)
{
    ROS_MTABind_t *ros = dec(&asn_DEF_ROS_MTABind, open->buf, open->size);
    ck_assert_int_eq(ros->present, ROS_MTABind_PR_bind_invoke);
    ck_assert_int_eq(ros->choice.bind_invoke.present, MTABindArgument_PR_authenticated);
    ck_assert(str_is(&ros->choice.bind_invoke.choice.authenticated.initiator_name, "MTA-A"));
    const Credentials_t *cr = &ros->choice.bind_invoke.choice.authenticated.initiator_credentials;
    ck_assert_int_eq(cr->present, Credentials_PR_simple);
    ck_assert_int_eq(cr->choice.simple.present, Password_PR_ia5_string);
    ck_assert(str_is(&cr->choice.simple.choice.ia5_string, "secret"));
    ck_assert_ptr_null(ros->choice.bind_invoke.choice.authenticated.security_context);
    ASN_STRUCT_FREE(asn_DEF_ROS_MTABind, ros);
}

static void check_rtorq(const uint8_t *b, size_t n)
{
    RTSE_apdus_t *a = dec(&asn_DEF_RTSE_apdus, b, n);
    ck_assert_int_eq(a->present, RTSE_apdus_PR_rtorq_apdu);
    const RTORQapdu_t *rq = &a->choice.rtorq_apdu;
    ck_assert_ptr_nonnull(rq->checkpointSize);
    ck_assert_int_eq(*rq->checkpointSize, 63);
    ck_assert_ptr_null(rq->windowSize);          /* absent: X.228 default 3 */
    ck_assert_ptr_nonnull(rq->dialogueMode);     /* sent explicitly */
    ck_assert_int_eq(*rq->dialogueMode, RTORQapdu__dialogueMode_monologue);
    ck_assert_ptr_null(rq->applicationProtocol);
    ck_assert_int_eq(rq->connectionDataRQ.present, ConnectionData_PR_open);
    check_bind_invoke(&rq->connectionDataRQ.choice.open);
    ASN_STRUCT_FREE(asn_DEF_RTSE_apdus, a);
}

static void check_aarq(const uint8_t *b, size_t n)
{
    AARQ_apdu_t *a = dec(&asn_DEF_AARQ_apdu, b, n);
    long arcs[8];
    int na = OBJECT_IDENTIFIER_get_arcs(&a->application_context_name, arcs, sizeof arcs[0], 8);
    ck_assert_int_eq(na, 5);
    ck_assert(arcs[0] == 2 && arcs[1] == 6 && arcs[2] == 0 && arcs[3] == 1 && arcs[4] == 6);
    ck_assert_ptr_null(a->protocol_version);     /* absent: version1 */
    ck_assert_ptr_null(a->calling_AP_title);
    ck_assert_ptr_nonnull(a->user_information);
    ck_assert_int_eq(a->user_information->list.count, 1);
    const ACSE_EXTERNAL_t *ext = a->user_information->list.array[0];
    ck_assert_ptr_nonnull(ext->indirect_reference);
    ck_assert_int_eq(*ext->indirect_reference, 3);
    ck_assert_int_eq(ext->encoding.present, ACSE_External_body__encoding_PR_single_ASN1_type);
    check_rtorq(ext->encoding.choice.single_ASN1_type.buf,
                ext->encoding.choice.single_ASN1_type.size);
    ASN_STRUCT_FREE(asn_DEF_AARQ_apdu, a);
}

/* ------------------------------------------------------------------ RTSE + ROS */

START_TEST(ros_bind_invoke_bytes)
{
    uint8_t b[128];
    size_t n = build_bind_invoke(b, sizeof b);
    ck_bytes(b, n, k_bind_invoke, sizeof k_bind_invoke);

    /* bind-error [18] is EXPLICIT around the INTEGER. */
    ROS_MTABind_t e;
    memset(&e, 0, sizeof e);
    e.present = ROS_MTABind_PR_bind_error;
    e.choice.bind_error = MTABindError_authentication_error;
    static const uint8_t want[] = { 0xB2, 0x03, 0x02, 0x01, 0x02 };
    n = enc(&asn_DEF_ROS_MTABind, &e, b, sizeof b);
    ck_bytes(b, n, want, sizeof want);
    ROS_MTABind_t *d = dec(&asn_DEF_ROS_MTABind, b, n);
    ck_assert_int_eq(d->present, ROS_MTABind_PR_bind_error);
    ck_assert_int_eq(d->choice.bind_error, 2);
    ASN_STRUCT_FREE(asn_DEF_ROS_MTABind, d);
}
END_TEST

START_TEST(rtse_rtorq_bytes_and_roundtrip)
{
    uint8_t b[256];
    size_t n = build_rtorq(b, sizeof b);
    /* [16] IMPLICIT SET -> B0; checkpointSize [0] 3F; dialogueMode [2]
     * present although it is the X.228 default; no windowSize [1]. */
    ck_bytes(b, n, k_rtorq, sizeof k_rtorq);
    check_rtorq(b, n);
}
END_TEST

START_TEST(rtse_x410_and_other_apdus)
{
    uint8_t b[256];
    size_t n;
    /* X.410-1984 mode: applicationProtocol [4] IMPLICIT INTEGER = 12,
     * open holds MTABindArgument directly (no ROS wrapper). */
    RTORQapdu_t rq;
    memset(&rq, 0, sizeof rq);
    rq.checkpointSize = new_long(0);
    rq.windowSize = new_long(3);
    rq.applicationProtocol = new_long(12);
    rq.connectionDataRQ.present = ConnectionData_PR_open;
    static const uint8_t unauth[] = { 0x05, 0x00 };  /* MTABindArgument unauthenticated */
    set_any(&rq.connectionDataRQ.choice.open, unauth, sizeof unauth);
    n = enc(&asn_DEF_RTORQapdu, &rq, b, sizeof b);
    /* DER puts SET members in tag order: [0] [1] [3] [4]. */
    static const uint8_t want[] = {
        0x31, 0x0F, 0x80, 0x01, 0x00, 0x81, 0x01, 0x03,
        0xA3, 0x04, 0xA0, 0x02, 0x05, 0x00, 0x84, 0x01, 0x0C };
    ck_bytes(b, n, want, sizeof want);
    RTORQapdu_t *drq = dec(&asn_DEF_RTORQapdu, b, n);
    ck_assert_int_eq(*drq->applicationProtocol, 12);
    ck_assert_int_eq(*drq->windowSize, 3);
    ASN_STRUCT_FREE(asn_DEF_RTORQapdu, drq);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_RTORQapdu, &rq);

    /* RTTR: an OCTET STRING piece; RTTP: an INTEGER; RTAB [22]. */
    RTSE_apdus_t a;
    memset(&a, 0, sizeof a);
    a.present = RTSE_apdus_PR_rttr_apdu;
    set_str(&a.choice.rttr_apdu, "ab");
    n = enc(&asn_DEF_RTSE_apdus, &a, b, sizeof b);
    static const uint8_t want_tr[] = { 0x04, 0x02, 'a', 'b' };
    ck_bytes(b, n, want_tr, sizeof want_tr);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_RTSE_apdus, &a);

    memset(&a, 0, sizeof a);
    a.present = RTSE_apdus_PR_rtab_apdu;
    a.choice.rtab_apdu.abortReason = new_long(AbortReason_protocolError);
    n = enc(&asn_DEF_RTSE_apdus, &a, b, sizeof b);
    static const uint8_t want_ab[] = { 0xB6, 0x03, 0x80, 0x01, 0x04 };
    ck_bytes(b, n, want_ab, sizeof want_ab);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_RTSE_apdus, &a);
    RTSE_apdus_t *d = dec(&asn_DEF_RTSE_apdus, b, n);
    ck_assert_int_eq(d->present, RTSE_apdus_PR_rtab_apdu);
    ck_assert_int_eq(*d->choice.rtab_apdu.abortReason, 4);
    ASN_STRUCT_FREE(asn_DEF_RTSE_apdus, d);
}
END_TEST

/* ------------------------------------------------------------------ ACSE */

START_TEST(acse_aarq_bytes_and_roundtrip)
{
    uint8_t b[256], want[256];
    memcpy(want, k_aarq_head, sizeof k_aarq_head);
    memcpy(want + sizeof k_aarq_head, k_rtorq, sizeof k_rtorq);
    size_t n = build_aarq(b, sizeof b);
    ck_bytes(b, n, want, sizeof k_aarq_head + sizeof k_rtorq);
    check_aarq(b, n);
}
END_TEST

START_TEST(acse_aare_bytes)
{
    uint8_t b[128];
    AARE_apdu_t a;
    memset(&a, 0, sizeof a);
    set_oid(&a.application_context_name, "2.6.0.1.6");
    a.result = Associate_result_accepted;
    a.result_source_diagnostic.present = Associate_source_diagnostic_PR_acse_service_user;
    a.result_source_diagnostic.choice.acse_service_user =
        Associate_source_diagnostic__acse_service_user_null;
    size_t n = enc(&asn_DEF_AARE_apdu, &a, b, sizeof b);
    static const uint8_t want[] = {
        0x61, 0x14, 0xA1, 0x06, OID_MTS_TRANSFER,
        0xA2, 0x03, 0x02, 0x01, 0x00,
        0xA3, 0x05, 0xA1, 0x03, 0x02, 0x01, 0x00 };
    ck_bytes(b, n, want, sizeof want);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_AARE_apdu, &a);
    AARE_apdu_t *d = dec(&asn_DEF_AARE_apdu, b, n);
    ck_assert_int_eq(d->result, 0);
    ck_assert_int_eq(d->result_source_diagnostic.present,
                     Associate_source_diagnostic_PR_acse_service_user);
    ASN_STRUCT_FREE(asn_DEF_AARE_apdu, d);
}
END_TEST

/* ------------------------------------------------------------------ presentation */

static void add_context(P_Context_list_t *cl, long id, const char *as)
{
    P_Context_list_item_t *it = NEW(P_Context_list_item_t);
    it->presentation_context_identifier = id;
    set_oid(&it->abstract_syntax_name, as);
    P_Transfer_syntax_name_t *ts = NEW(P_Transfer_syntax_name_t);
    set_oid(ts, "2.1.1");
    ck_assert_int_eq(ASN_SEQUENCE_ADD(&it->transfer_syntax_name_list.list, ts), 0);
    ck_assert_int_eq(ASN_SEQUENCE_ADD(&cl->list, it), 0);
}

START_TEST(presentation_cp_bytes_and_roundtrip)
{
    uint8_t aarq[256], b[512];
    size_t an = build_aarq(aarq, sizeof aarq);
    CP_type_t cp;
    memset(&cp, 0, sizeof cp);
    cp.mode_selector.mode_value = P_Mode_selector__mode_value_normal_mode;
    P_CP_normal_mode_parameters_t *nm = cp.normal_mode_parameters =
        NEW(P_CP_normal_mode_parameters_t);
    nm->presentation_context_definition_list = NEW(P_Context_list_t);
    add_context(nm->presentation_context_definition_list, 1, "2.2.1.0.1");
    add_context(nm->presentation_context_definition_list, 3, "2.6.0.2.12");
    add_context(nm->presentation_context_definition_list, 5, "2.6.0.2.7");
    nm->user_data = NEW(P_User_data_t);
    nm->user_data->present = P_User_data_PR_fully_encoded_data;
    P_PDV_list_t *pdv = NEW(P_PDV_list_t);
    pdv->presentation_context_identifier = 1;
    pdv->presentation_data_values.present = P_PDV_list__presentation_data_values_PR_single_ASN1_type;
    set_any(&pdv->presentation_data_values.choice.single_ASN1_type, aarq, an);
    ck_assert_int_eq(ASN_SEQUENCE_ADD(&nm->user_data->choice.fully_encoded_data.list, pdv), 0);
    size_t n = enc(&asn_DEF_CP_type, &cp, b, sizeof b);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_CP_type, &cp);

    static const uint8_t ctxlist[] = {
        0xA4, 0x33,
        0x30, 0x0F, 0x02, 0x01, 0x01, OID_ACSE, 0x30, 0x04, OID_BER,
        0x30, 0x0F, 0x02, 0x01, 0x03, OID_MTA_RTSE, 0x30, 0x04, OID_BER,
        0x30, 0x0F, 0x02, 0x01, 0x05, OID_MTSE, 0x30, 0x04, OID_BER };
    tlv top = tlv_top(b, n);
    ck_assert_int_eq(top.tag, 0x31);                       /* CP-type SET */
    tlv ms = tlv_nth(&top, 0);
    static const uint8_t want_ms[] = { 0xA0, 0x03, 0x80, 0x01, 0x01 };
    ck_bytes(ms.v - 2, ms.total, want_ms, sizeof want_ms);
    tlv nmp = tlv_find(&top, 0xA2);                        /* [2] IMPLICIT SEQUENCE */
    tlv cl = tlv_nth(&nmp, 0);
    ck_bytes(cl.v - 2, cl.total, ctxlist, sizeof ctxlist);
    tlv ud = tlv_nth(&nmp, 1);
    ck_assert_int_eq(ud.tag, 0x61);                        /* fully-encoded-data */
    tlv pl = tlv_nth(&ud, 0);
    ck_assert_int_eq(pl.tag, 0x30);
    tlv pci = tlv_nth(&pl, 0);
    ck_assert_int_eq(pci.tag, 0x02);
    ck_assert_int_eq(pci.v[0], 1);
    tlv sat = tlv_nth(&pl, 1);
    ck_assert_int_eq(sat.tag, 0xA0);                       /* single-ASN1-type [0] */
    ck_bytes(sat.v, sat.len, aarq, an);

    CP_type_t *d = dec(&asn_DEF_CP_type, b, n);
    ck_assert_int_eq(d->mode_selector.mode_value, 1);
    ck_assert_ptr_null(d->x410_mode_parameters);
    ck_assert_int_eq(d->normal_mode_parameters->presentation_context_definition_list->list.count, 3);
    const P_PDV_list_t *dp = d->normal_mode_parameters->user_data->choice.fully_encoded_data.list.array[0];
    check_aarq(dp->presentation_data_values.choice.single_ASN1_type.buf,
               dp->presentation_data_values.choice.single_ASN1_type.size);
    ASN_STRUCT_FREE(asn_DEF_CP_type, d);
}
END_TEST

/* The CP-type of a real 1988-mode MTA (wire.md): indefinite lengths
 * throughout, AARQ inside, RTORQ inside that, ROS bind-invoke inside that. */
#define EOC 0x00, 0x00
static const uint8_t k_real_rtorq[] = {
    0xB0, 0x80,
      0x80, 0x01, 0x3F,
      0x82, 0x01, 0x00,
      0xA3, 0x80, 0xA0, 0x80,
        0xB0, 0x80, 0xA1, 0x80,
          0x80, 0x05, 'M', 'T', 'A', '-', 'A',
          0xA1, 0x80, 0x16, 0x06, 's', 'e', 'c', 'r', 'e', 't', EOC,
        EOC, EOC,
      EOC, EOC,
    EOC
};
static const uint8_t k_real_aarq_head[] = {
    0x60, 0x80,
      0xA1, 0x80, OID_MTS_TRANSFER, EOC,
      0xBE, 0x80, 0x28, 0x80, OID_BER, 0x02, 0x01, 0x03, 0xA0, 0x80
};
static const uint8_t k_real_aarq_tail[] = { EOC, EOC, EOC, EOC };
static const uint8_t k_real_cp_head[] = {
    0x31, 0x80,
      0xA0, 0x80, 0x80, 0x01, 0x01, EOC,
      0xA2, 0x80,
        0xA4, 0x80,
          0x30, 0x80, 0x02, 0x01, 0x01, OID_ACSE, 0x30, 0x80, OID_BER, EOC, EOC,
          0x30, 0x80, 0x02, 0x01, 0x03, OID_MTA_RTSE, 0x30, 0x80, OID_BER, EOC, EOC,
          0x30, 0x80, 0x02, 0x01, 0x05, OID_MTSE, 0x30, 0x80, OID_BER, EOC, EOC,
        EOC,
        0x61, 0x80, 0x30, 0x80, 0x02, 0x01, 0x01, 0xA0, 0x80
};
static const uint8_t k_real_cp_tail[] = { EOC, EOC, EOC, EOC, EOC };

static size_t cat3(uint8_t *o, const uint8_t *a, size_t an, const uint8_t *m, size_t mn,
                   const uint8_t *z, size_t zn)
{
    memcpy(o, a, an);
    memcpy(o + an, m, mn);
    memcpy(o + an + mn, z, zn);
    return an + mn + zn;
}

START_TEST(real_mta_indefinite_cp)
{
    uint8_t aarq[256], cp[512], def[512];
    size_t an = cat3(aarq, k_real_aarq_head, sizeof k_real_aarq_head,
                     k_real_rtorq, sizeof k_real_rtorq, k_real_aarq_tail, sizeof k_real_aarq_tail);
    size_t cn = cat3(cp, k_real_cp_head, sizeof k_real_cp_head, aarq, an,
                     k_real_cp_tail, sizeof k_real_cp_tail);

    /* 1. The CP-type wrapper itself decodes: it has only IMPLICIT tags
     *    and the [0] ANY of the PDV. */
    CP_type_t *d = dec(&asn_DEF_CP_type, cp, cn);
    ck_assert_int_eq(d->normal_mode_parameters->presentation_context_definition_list->list.count, 3);
    const ANY_t *pdv = &d->normal_mode_parameters->user_data->choice.fully_encoded_data
                           .list.array[0]->presentation_data_values.choice.single_ASN1_type;
    ck_bytes(pdv->buf, pdv->size, aarq, an);

    /* 2. The RTORQ with indefinite lengths decodes too (ConnectionData is
     *    a CHOICE and `open` an ANY: no explicit tag over a primitive). */
    check_rtorq(k_real_rtorq, sizeof k_real_rtorq);

    /* 3. The AARQ does NOT: application-context-name [1] is an EXPLICIT
     *    tag, sent with indefinite length (A1 80), around the OBJECT
     *    IDENTIFIER, whose length is necessarily definite.  asn1c 0.9.28
     *    checks an explicit tag and the inner tag as one chain and refuses
     *    a chain that mixes indefinite and definite lengths. */
    void *p = NULL;
    asn_dec_rval_t r = ber_decode(NULL, &asn_DEF_AARQ_apdu, &p, pdv->buf, pdv->size);
    ck_assert_int_eq(r.code, RC_FAIL);
    ASN_STRUCT_FREE(asn_DEF_AARQ_apdu, p);
    /* The minimal failing case, and its definite-length twin that passes. */
    static const uint8_t mixed[] = { 0x60, 0x80, 0xA1, 0x80, OID_MTS_TRANSFER, EOC, EOC };
    static const uint8_t fine[]  = { 0x60, 0x80, 0xA1, 0x06, OID_MTS_TRANSFER, EOC };
    p = NULL;
    r = ber_decode(NULL, &asn_DEF_AARQ_apdu, &p, mixed, sizeof mixed);
    ck_assert_int_eq(r.code, RC_FAIL);
    ASN_STRUCT_FREE(asn_DEF_AARQ_apdu, p);
    p = dec(&asn_DEF_AARQ_apdu, fine, sizeof fine);
    ASN_STRUCT_FREE(asn_DEF_AARQ_apdu, p);

    /* 4. Rewritten with definite lengths (what the presentation/ACSE layer
     *    must do first), the AARQ and everything inside decodes. */
    size_t used = 0;
    size_t dn = to_definite(pdv->buf, pdv->size, &used, def, sizeof def, 0);
    ck_assert_uint_gt(dn, 0);
    ck_assert_uint_eq(used, pdv->size);
    check_aarq(def, dn);
    ASN_STRUCT_FREE(asn_DEF_CP_type, d);

    /* Our own DER AARQ is exactly the definite-length form. */
    {
        uint8_t a2[256];
        size_t a2n = build_aarq(a2, sizeof a2);
        ck_bytes(a2, a2n, def, dn);
    }
    /* The whole CP normalised decodes, and its AARQ then decodes directly. */
    dn = to_definite(cp, cn, &used, def, sizeof def, 0);
    ck_assert_uint_gt(dn, 0);
    ck_assert_uint_eq(used, cn);
    d = dec(&asn_DEF_CP_type, def, dn);
    pdv = &d->normal_mode_parameters->user_data->choice.fully_encoded_data
               .list.array[0]->presentation_data_values.choice.single_ASN1_type;
    check_aarq(pdv->buf, pdv->size);
    ASN_STRUCT_FREE(asn_DEF_CP_type, d);
}
END_TEST

/* ------------------------------------------------------------------ P1 */

static void fill_gdi(GlobalDomainIdentifier_t *g, const char *c, const char *admd, const char *prmd)
{
    g->country_name.present = CountryName_PR_iso_3166_alpha2_code;
    set_str(&g->country_name.choice.iso_3166_alpha2_code, c);
    g->administration_domain_name.present = AdministrationDomainName_PR_printable;
    set_str(&g->administration_domain_name.choice.printable, admd);
    if (prmd) {
        g->private_domain_identifier = NEW(PrivateDomainIdentifier_t);
        g->private_domain_identifier->present = PrivateDomainIdentifier_PR_printable;
        set_str(&g->private_domain_identifier->choice.printable, prmd);
    }
}

static void fill_orname(ORName_t *o, const char *org, const char *surname)
{
    BuiltInStandardAttributes_t *a = &o->built_in_standard_attributes;
    a->country_name = NEW(CountryName_t);
    a->country_name->present = CountryName_PR_iso_3166_alpha2_code;
    set_str(&a->country_name->choice.iso_3166_alpha2_code, "XX");
    a->administration_domain_name = NEW(AdministrationDomainName_t);
    a->administration_domain_name->present = AdministrationDomainName_PR_printable;
    set_str(&a->administration_domain_name->choice.printable, " ");
    a->organization_name = NEW(OrganizationName_t);
    set_str(a->organization_name, org);
    a->personal_name = NEW(PersonalName_t);
    set_str(&a->personal_name->surname, surname);
}

static void fill_trace(TraceInformation_t *t)
{
    TraceInformationElement_t *e = NEW(TraceInformationElement_t);
    fill_gdi(&e->global_domain_identifier, "XX", " ", "PRMD");
    DomainSuppliedInformation_t *ds = &e->domain_supplied_information;
    set_str(&ds->arrival_time, "240101120000Z");
    ds->routing_action = RoutingAction_relayed;
    /* Components of AdditionalActions: must stay IMPLICIT. */
    ds->deferred_time = NEW(DeferredTime_t);
    set_str(ds->deferred_time, "240101130000Z");
    ds->other_actions = NEW(OtherActions_t);
    ds->other_actions->buf = xcalloc(1);
    ds->other_actions->buf[0] = 0x80;               /* redirected */
    ds->other_actions->size = 1;
    ds->other_actions->bits_unused = 7;
    ck_assert_int_eq(ASN_SEQUENCE_ADD(&t->list, e), 0);
}

static Extensions_t *one_extension(long std_ext, const uint8_t *val, size_t vn)
{
    Extensions_t *x = NEW(Extensions_t);
    ExtensionField_t *f = NEW(ExtensionField_t);
    f->type.present = ExtensionType_PR_standard_extension;
    f->type.choice.standard_extension = std_ext;
    f->criticality = NEW(Criticality_t);
    f->criticality->buf = xcalloc(1);
    f->criticality->buf[0] = 0x40;                  /* for-transfer */
    f->criticality->size = 1;
    f->criticality->bits_unused = 6;
    f->value = NEW(ANY_t);
    set_any(f->value, val, vn);
    ck_assert_int_eq(ASN_SET_ADD(&x->list, f), 0);
    return x;
}

static void fill_indicators(PerRecipientIndicators_t *pri)
{
    pri->buf = xcalloc(1);
    pri->buf[0] = 0x90;                              /* responsibility, originator-report */
    pri->size = 1;
}

static size_t build_message(uint8_t *b, size_t cap, int nrcpt)
{
    static const uint8_t rrp[] = { 0x0A, 0x01, 0x01 };  /* RecipientReassignmentProhibited */
    static const uint8_t bil[] = { 0x04, 0x02, 0xCA, 0xFE };
    MTS_APDU_t m;
    memset(&m, 0, sizeof m);
    m.present = MTS_APDU_PR_message;
    MessageTransferEnvelope_t *e = &m.choice.message.envelope;
    fill_gdi(&e->message_identifier.global_domain_identifier, "XX", " ", "PRMD");
    set_str(&e->message_identifier.local_identifier, "msg-0001");
    fill_orname(&e->originator_name, "ORG", "Sender");
    e->content_type.present = ContentType_PR_built_in;
    e->content_type.choice.built_in = BuiltInContentType_interpersonal_messaging_1988;
    e->priority = NEW(Priority_t);
    *e->priority = Priority_urgent;
    e->per_domain_bilateral_information = NEW(PerDomainBilateralInformationList_t);
    PerDomainBilateralInformation_t *pdb = NEW(PerDomainBilateralInformation_t);
    pdb->country_name.present = CountryName_PR_iso_3166_alpha2_code;
    set_str(&pdb->country_name.choice.iso_3166_alpha2_code, "XX");
    pdb->domain.present = PerDomainBilateralInformation__domain_PR_administration_domain_name;
    pdb->domain.choice.administration_domain_name.present = AdministrationDomainName_PR_printable;
    set_str(&pdb->domain.choice.administration_domain_name.choice.printable, "ADMD");
    set_any(&pdb->bilateral_information, bil, sizeof bil);
    ck_assert_int_eq(ASN_SEQUENCE_ADD(&e->per_domain_bilateral_information->list, pdb), 0);
    fill_trace(&e->trace_information);
    e->extensions = one_extension(1, rrp, sizeof rrp);
    for (int i = 0; i < nrcpt; i++) {
        char sn[16];
        snprintf(sn, sizeof sn, "Rcpt%d", i + 1);
        PerRecipientMessageTransferFields_t *r = NEW(PerRecipientMessageTransferFields_t);
        fill_orname(&r->recipient_name, "ORG", sn);
        r->originally_specified_recipient_number = i + 1;
        fill_indicators(&r->per_recipient_indicators);
        ck_assert_int_eq(ASN_SEQUENCE_ADD(&e->per_recipient_fields.list, r), 0);
    }
    set_str(&m.choice.message.content, "hello, world");
    size_t n = enc(&asn_DEF_MTS_APDU, &m, b, cap);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_MTS_APDU, &m);
    return n;
}

START_TEST(p1_message_tags)
{
    uint8_t b[2048];
    size_t n = build_message(b, sizeof b, 2);
    tlv top = tlv_top(b, n);
    ck_assert_int_eq(top.tag, 0xA0);                 /* message [0] IMPLICIT SEQUENCE */
    tlv env = tlv_nth(&top, 0);
    ck_assert_int_eq(env.tag, 0x31);                 /* MessageTransferEnvelope SET */
    tlv content = tlv_nth(&top, 1);
    ck_assert_int_eq(content.tag, 0x04);
    ck_bytes(content.v, content.len, (const uint8_t *)"hello, world", 12);

    tlv mid = tlv_find(&env, 0x64);                  /* MTSIdentifier [APPLICATION 4] */
    ck_assert_int_eq(tlv_nth(&mid, 0).tag, 0x63);    /* GlobalDomainIdentifier [APPLICATION 3] */
    ck_assert_int_eq(tlv_nth(&mid, 1).tag, 0x16);    /* LocalIdentifier IA5String */
    tlv orig = tlv_find(&env, 0x60);                 /* ORName [APPLICATION 0] */
    tlv bisa = tlv_nth(&orig, 0);                    /* COMPONENTS OF ORAddress */
    ck_assert_int_eq(bisa.tag, 0x30);
    ck_assert_int_eq(tlv_nth(&bisa, 0).tag, 0x61);   /* CountryName [APPLICATION 1] */
    ck_assert_int_eq(tlv_nth(&bisa, 1).tag, 0x62);   /* AdministrationDomainName */
    ck_assert_int_eq(tlv_nth(&bisa, 2).tag, 0x83);   /* organization-name [3] */
    ck_assert_int_eq(tlv_nth(&bisa, 3).tag, 0xA5);   /* personal-name [5] SET */
    tlv ct = tlv_find(&env, 0x46);                   /* BuiltInContentType */
    ck_assert_uint_eq(ct.len, 1);
    ck_assert_int_eq(ct.v[0], 22);
    tlv pri = tlv_find(&env, 0x47);                  /* Priority [APPLICATION 7] */
    ck_assert_int_eq(pri.v[0], 2);

    /* per-domain-bilateral-information [1] IMPLICIT SEQUENCE OF SEQUENCE:
     * A1 30 ..., never A1 30 with a wrapped tag (COMPONENTS OF bug). */
    tlv pdbi = tlv_find(&env, 0xA1);
    tlv pdb = tlv_nth(&pdbi, 0);
    ck_assert_int_eq(pdb.tag, 0x30);
    ck_assert_int_eq(tlv_nth(&pdb, 0).tag, 0x61);
    ck_assert_int_eq(tlv_nth(&pdb, 1).tag, 0x62);
    ck_assert_int_eq(tlv_nth(&pdb, 2).tag, 0x04);    /* the opaque bilateral value */

    /* extensions [3] IMPLICIT SET OF ExtensionField: A3 30 80 01 01 ...
     * The COMPONENTS OF bug would give A3 xx 31 xx 30 ... */
    tlv ext = tlv_find(&env, 0xA3);
    tlv ef = tlv_nth(&ext, 0);
    ck_assert_int_eq(ef.tag, 0x30);
    static const uint8_t want_ef[] = {
        0x30, 0x0C, 0x80, 0x01, 0x01,                /* standard-extension [0] 1 */
        0x81, 0x02, 0x06, 0x40,                      /* criticality [1] for-transfer */
        0xA2, 0x03, 0x0A, 0x01, 0x01 };              /* value [2] EXPLICIT */
    ck_bytes(ef.v - 2, ef.total, want_ef, sizeof want_ef);

    /* trace-information [APPLICATION 9]; the AdditionalActions components
     * inside DomainSuppliedInformation keep IMPLICIT tags: 81 and 83. */
    tlv tr = tlv_find(&env, 0x69);
    tlv tie = tlv_nth(&tr, 0);
    ck_assert_int_eq(tie.tag, 0x30);
    tlv dsi = tlv_nth(&tie, 1);
    ck_assert_int_eq(dsi.tag, 0x31);
    ck_assert_int_eq(tlv_find(&dsi, 0x80).len, 13);  /* arrival-time [0] */
    ck_assert_int_eq(tlv_find(&dsi, 0x82).v[0], 0);  /* routing-action relayed */
    ck_assert_int_eq(tlv_find(&dsi, 0x81).len, 13);  /* deferred-time [1] IMPLICIT */
    static const uint8_t want_oa[] = { 0x83, 0x02, 0x07, 0x80 };
    tlv oa = tlv_find(&dsi, 0x83);                   /* other-actions [3] IMPLICIT */
    ck_bytes(oa.v - 2, oa.total, want_oa, sizeof want_oa);

    /* per-recipient-fields [2] IMPLICIT SEQUENCE OF SET. */
    tlv prf = tlv_find(&env, 0xA2);
    for (size_t i = 0; i < 2; i++) {
        tlv r = tlv_nth(&prf, i);
        ck_assert_int_eq(r.tag, 0x31);
        ck_assert_int_eq(tlv_nth(&r, 0).tag, 0x60);
        tlv num = tlv_find(&r, 0x80);
        ck_assert_int_eq(num.v[0], (int)i + 1);
        static const uint8_t want_ind[] = { 0x81, 0x02, 0x00, 0x90 };
        tlv ind = tlv_find(&r, 0x81);
        ck_bytes(ind.v - 2, ind.total, want_ind, sizeof want_ind);
    }
}
END_TEST

START_TEST(p1_message_roundtrip)
{
    uint8_t b[2048], b2[2048];
    size_t n = build_message(b, sizeof b, 3);
    MTS_APDU_t *m = dec(&asn_DEF_MTS_APDU, b, n);
    ck_assert_int_eq(m->present, MTS_APDU_PR_message);
    const MessageTransferEnvelope_t *e = &m->choice.message.envelope;
    ck_assert(str_is(&e->message_identifier.local_identifier, "msg-0001"));
    ck_assert_int_eq(e->per_recipient_fields.list.count, 3);
    ck_assert(str_is(&e->per_recipient_fields.list.array[2]->recipient_name
                          .built_in_standard_attributes.personal_name->surname, "Rcpt3"));
    ck_assert_ptr_nonnull(e->extensions);
    ck_assert_int_eq(e->extensions->list.count, 1);
    const ExtensionField_t *f = e->extensions->list.array[0];
    ck_assert_int_eq(f->type.present, ExtensionType_PR_standard_extension);
    ck_assert_int_eq(f->type.choice.standard_extension, 1);
    ck_assert_ptr_nonnull(f->value);
    ck_assert_uint_eq(f->value->size, 3);
    ck_assert_ptr_null(e->per_message_indicators);  /* absent: default {} */
    ck_assert_int_eq(*e->priority, Priority_urgent);
    ck_assert_ptr_nonnull(e->trace_information.list.array[0]->domain_supplied_information.other_actions);
    ck_assert(str_is(&m->choice.message.content, "hello, world"));
    /* Re-encoding the decoded value gives the same bytes. */
    size_t n2 = enc(&asn_DEF_MTS_APDU, m, b2, sizeof b2);
    ck_bytes(b2, n2, b, n);
    ASN_STRUCT_FREE(asn_DEF_MTS_APDU, m);
}
END_TEST

START_TEST(p1_report_and_probe)
{
    uint8_t b[2048];
    MTS_APDU_t m;
    memset(&m, 0, sizeof m);
    m.present = MTS_APDU_PR_report;
    ReportTransferEnvelope_t *re = &m.choice.report.envelope;
    fill_gdi(&re->report_identifier.global_domain_identifier, "XX", " ", NULL);
    set_str(&re->report_identifier.local_identifier, "rpt-1");
    fill_orname(&re->report_destination_name, "ORG", "Sender");
    fill_trace(&re->trace_information);
    ReportTransferContent_t *rc = &m.choice.report.content;
    fill_gdi(&rc->subject_identifier.global_domain_identifier, "XX", " ", "PRMD");
    set_str(&rc->subject_identifier.local_identifier, "msg-0001");
    PerRecipientReportTransferFields_t *r = NEW(PerRecipientReportTransferFields_t);
    fill_orname(&r->actual_recipient_name, "ORG", "Rcpt1");
    r->originally_specified_recipient_number = 1;
    fill_indicators(&r->per_recipient_indicators);
    set_str(&r->last_trace_information.arrival_time, "240101120500Z");
    r->last_trace_information.report_type.present = ReportType_PR_non_delivery;
    NonDeliveryReport_t *nd = &r->last_trace_information.report_type.choice.non_delivery;
    nd->non_delivery_reason_code = NonDeliveryReasonCode_unable_to_transfer;
    nd->non_delivery_diagnostic_code = new_long(NonDeliveryDiagnosticCode_unrecognised_OR_name);
    ck_assert_int_eq(ASN_SEQUENCE_ADD(&rc->per_recipient_fields.list, r), 0);
    size_t n = enc(&asn_DEF_MTS_APDU, &m, b, sizeof b);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_MTS_APDU, &m);

    tlv top = tlv_top(b, n);
    ck_assert_int_eq(top.tag, 0xA1);                 /* report [1] */
    ck_assert_int_eq(tlv_nth(&top, 0).tag, 0x31);
    tlv rtc = tlv_nth(&top, 1);
    ck_assert_int_eq(rtc.tag, 0x31);
    ck_assert_int_eq(tlv_nth(&rtc, 0).tag, 0x64);    /* subject-identifier */
    tlv prf = tlv_find(&rtc, 0xA0);                  /* per-recipient-fields [0] */
    tlv pr = tlv_nth(&prf, 0);
    ck_assert_int_eq(pr.tag, 0x31);
    tlv arn = tlv_find(&pr, 0xA0);                   /* [0] IMPLICIT replaces [APPLICATION 0] */
    ck_assert_int_eq(tlv_nth(&arn, 0).tag, 0x30);
    tlv lti = tlv_find(&pr, 0xA3);                   /* last-trace-information [3] SET */
    ck_assert_int_eq(tlv_nth(&lti, 0).tag, 0x80);
    tlv rt = tlv_find(&lti, 0xA1);                   /* report-type [1] (CHOICE: explicit) */
    static const uint8_t want_nd[] = { 0xA1, 0x06, 0x80, 0x01, 0x01, 0x81, 0x01, 0x00 };
    tlv ndr = tlv_nth(&rt, 0);                       /* non-delivery [1] IMPLICIT SET */
    ck_bytes(ndr.v - 2, ndr.total, want_nd, sizeof want_nd);

    MTS_APDU_t *d = dec(&asn_DEF_MTS_APDU, b, n);
    ck_assert_int_eq(d->present, MTS_APDU_PR_report);
    const PerRecipientReportTransferFields_t *dr =
        d->choice.report.content.per_recipient_fields.list.array[0];
    ck_assert_int_eq(dr->last_trace_information.report_type.present, ReportType_PR_non_delivery);
    ck_assert_int_eq(*dr->last_trace_information.report_type.choice.non_delivery
                          .non_delivery_diagnostic_code, 0);
    ASN_STRUCT_FREE(asn_DEF_MTS_APDU, d);

    /* Probe: probe [2] IMPLICIT SET, content-length [0] IMPLICIT. */
    memset(&m, 0, sizeof m);
    m.present = MTS_APDU_PR_probe;
    ProbeTransferEnvelope_t *p = &m.choice.probe;
    fill_gdi(&p->probe_identifier.global_domain_identifier, "XX", " ", NULL);
    set_str(&p->probe_identifier.local_identifier, "probe-1");
    fill_orname(&p->originator_name, "ORG", "Sender");
    p->content_type.present = ContentType_PR_built_in;
    p->content_type.choice.built_in = 22;
    p->content_length = new_long(1000);
    fill_trace(&p->trace_information);
    PerRecipientProbeTransferFields_t *pr2 = NEW(PerRecipientProbeTransferFields_t);
    fill_orname(&pr2->recipient_name, "ORG", "Rcpt1");
    pr2->originally_specified_recipient_number = 1;
    fill_indicators(&pr2->per_recipient_indicators);
    ck_assert_int_eq(ASN_SEQUENCE_ADD(&p->per_recipient_fields.list, pr2), 0);
    n = enc(&asn_DEF_MTS_APDU, &m, b, sizeof b);
    ASN_STRUCT_FREE_CONTENTS_ONLY(asn_DEF_MTS_APDU, &m);
    top = tlv_top(b, n);
    ck_assert_int_eq(top.tag, 0xA2);
    static const uint8_t want_cl[] = { 0x80, 0x02, 0x03, 0xE8 };
    tlv cl = tlv_find(&top, 0x80);
    ck_bytes(cl.v - 2, cl.total, want_cl, sizeof want_cl);
    d = dec(&asn_DEF_MTS_APDU, b, n);
    ck_assert_int_eq(d->present, MTS_APDU_PR_probe);
    ck_assert_int_eq(*d->choice.probe.content_length, 1000);
    ASN_STRUCT_FREE(asn_DEF_MTS_APDU, d);
}
END_TEST

/* ------------------------------------------------------------------ bad input */

START_TEST(truncated_and_corrupt_input)
{
    uint8_t b[2048];
    size_t n = build_message(b, sizeof b, 2);
    /* Every proper prefix: never RC_OK (RC_WMORE or RC_FAIL), no
     * out-of-bounds read under ASan, everything freed. */
    for (size_t k = 0; k < n; k++) {
        void *p = NULL;
        asn_dec_rval_t r = ber_decode(NULL, &asn_DEF_MTS_APDU, &p, b, k);
        ck_assert_msg(r.code != RC_OK, "prefix %zu decoded", k);
        ASN_STRUCT_FREE(asn_DEF_MTS_APDU, p);
    }
    /* A wrong outer tag (probe [2] is a SET; [3] is not in the CHOICE). */
    b[0] = 0xA3;
    void *p = NULL;
    asn_dec_rval_t r = ber_decode(NULL, &asn_DEF_MTS_APDU, &p, b, n);
    ck_assert_int_eq(r.code, RC_FAIL);
    ASN_STRUCT_FREE(asn_DEF_MTS_APDU, p);

    /* A Content claiming 2 GiB with 3 octets present: RC_WMORE, and no
     * allocation of the claimed size (ASan would report it). */
    static const uint8_t huge[] = { 0x04, 0x84, 0x7F, 0xFF, 0xFF, 0xFF, 'a', 'b', 'c' };
    p = NULL;
    r = ber_decode(NULL, &asn_DEF_Content, &p, huge, sizeof huge);
    ck_assert_int_eq(r.code, RC_WMORE);
    ASN_STRUCT_FREE(asn_DEF_Content, p);

    /* Deeply nested indefinite lengths inside an ANY (ExtensionField value):
     * valid BER; asn1c walks it with a heap stack, so it neither overflows
     * the C stack nor hits max_stack_size, and the ANY keeps the inner TLV. */
    enum { DEPTH = 20000 };
    size_t cap = 16 + 4 * (size_t)DEPTH;
    uint8_t *deep = xcalloc(cap);
    size_t o = 0;
    deep[o++] = 0x30; deep[o++] = 0x80;                 /* ExtensionField */
    deep[o++] = 0x80; deep[o++] = 0x01; deep[o++] = 0x01;
    for (int i = 0; i < DEPTH; i++) { deep[o++] = 0xA2; deep[o++] = 0x80; }
    for (int i = 0; i < DEPTH + 1; i++) { deep[o++] = 0; deep[o++] = 0; }
    asn_codec_ctx_t ctx = { .max_stack_size = 64 * 1024 };
    p = NULL;
    r = ber_decode(&ctx, &asn_DEF_ExtensionField, &p, deep, o);
    ck_assert_int_eq(r.code, RC_OK);
    ck_assert_uint_eq(r.consumed, o);
    ck_assert_int_eq(((ExtensionField_t *)p)->value->size, 4 * (DEPTH - 1));
    ASN_STRUCT_FREE(asn_DEF_ExtensionField, p);
    /* The same with one end-of-contents missing: not RC_OK. */
    p = NULL;
    r = ber_decode(&ctx, &asn_DEF_ExtensionField, &p, deep, o - 2);
    ck_assert_int_ne(r.code, RC_OK);
    ASN_STRUCT_FREE(asn_DEF_ExtensionField, p);
    free(deep);
}
END_TEST

Suite *x400t_suite_asn1(void)
{
    Suite *s = suite_create("asn1");
    TCase *tc = tcase_create("codecs");
    tcase_add_test(tc, ros_bind_invoke_bytes);
    tcase_add_test(tc, rtse_rtorq_bytes_and_roundtrip);
    tcase_add_test(tc, rtse_x410_and_other_apdus);
    tcase_add_test(tc, acse_aarq_bytes_and_roundtrip);
    tcase_add_test(tc, acse_aare_bytes);
    tcase_add_test(tc, presentation_cp_bytes_and_roundtrip);
    tcase_add_test(tc, real_mta_indefinite_cp);
    tcase_add_test(tc, p1_message_tags);
    tcase_add_test(tc, p1_message_roundtrip);
    tcase_add_test(tc, p1_report_and_probe);
    tcase_add_test(tc, truncated_and_corrupt_input);
    suite_add_tcase(s, tc);
    return s;
}
