/*
 * X.228 RTSE APDUs: encoding and decoding (asn1c types from
 * asn1/rtse.asn1, after a structural BER check), the RTORQ/RTOAC/RTORJ/RTAB
 * builders and the session connection identifier.  The RTTR fast path and
 * the APDV header are coded by hand in lib/rtse_transfer.c so that the data
 * of a transfer is copied once.  doc/rtse.md.
 */
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

#include "ber.h"
#include "rtse_int.h"

const char *x400i_rtse_abort_reason_name(int reason)
{
    static const char *const n[] = { "localSystemProblem", "invalidParameter", "unrecognizedActivity",
                                     "temporaryProblem", "protocolError", "permanentProblem", "userError",
                                     "transferCompleted" };
    return reason >= 0 && reason < (int)X400I_ARRAY_LEN(n) ? n[reason] : NULL;
}

const char *x400i_rt_refuse_reason_name(int reason)
{
    static const char *const n[] = { "rtsBusy", "cannotRecover", "validationFailure",
                                     "unacceptableDialogueMode" };
    return reason >= 0 && reason < (int)X400I_ARRAY_LEN(n) ? n[reason] : "unknown";
}

static int consume_cb(const void *buf, size_t size, void *key)
{
    return x400i_buf_append(key, buf, size) == 0 ? 0 : -1;
}

int x400i_rt_encode(x400i_rtse *r, RTSE_apdus_t *a)
{
    x400i_buf_reset(&r->out);
    asn_enc_rval_t er = der_encode(&asn_DEF_RTSE_apdus, a, consume_cb, &r->out);
    if (er.encoded < 0)
        return x400i_rt_diag(r, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0, "RTSE APDU does not encode (%s)",
                    er.failed_type ? er.failed_type->name : "?");
    return 0;
}

/* Decode a complete control APDU; *out must be freed with x400i_rt_free_apdu(). */
int x400i_rt_decode(x400i_rtse *r, const uint8_t *p, size_t n, RTSE_apdus_t **out, const char *what)
{
    asn_codec_ctx_t ctx;
    asn_dec_rval_t rv;
    *out = NULL;
    if (n > CTRL_MAX)
        return x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_LIMIT, 0, "%s of %zu octets exceeds the bound of %u",
                             what, n, CTRL_MAX);
    if (n == 0) return x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0, "%s: no RTSE APDU", what);
    if (!x400i_ber_is_one_tlv(p, n))
        return x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                             "%s: RTSE APDU does not decode (malformed BER, %zu octets)", what, n);
    memset(&ctx, 0, sizeof ctx);
    ctx.max_stack_size = 32768;
    rv = ber_decode(&ctx, &asn_DEF_RTSE_apdus, (void **)out, p, n);
    if (rv.code != RC_OK || rv.consumed != n) {
        if (*out) ASN_STRUCT_FREE(asn_DEF_RTSE_apdus, *out);
        *out = NULL;
        return x400i_rt_diag(r, X400_SOURCE_PEER, X400_ERR_PARSE, 0,
                             "%s: RTSE APDU does not decode (%s at octet %zu of %zu)", what,
                             rv.code == RC_WMORE ? "truncated" : "malformed", rv.consumed, n);
    }
    return 0;
}

void x400i_rt_free_apdu(RTSE_apdus_t *a)
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

int x400i_rt_sci_to_ref(const SessionConnectionIdentifier_t *sci, x400i_rtse_ref *ref)
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

int x400i_rt_ref_eq(const x400i_rtse_ref *a, const x400i_rtse_ref *b)
{
    return a->calling_len == b->calling_len && !memcmp(a->calling, b->calling, a->calling_len) &&
           a->common_len == b->common_len && !memcmp(a->common, b->common, a->common_len) &&
           a->add_len == b->add_len && !memcmp(a->add, b->add, a->add_len);
}

/* 1 when the APDU is plainly an RTORQ ([16], X.228 9.3) whose
 * connectionDataRQ ([3]) holds the `open` alternative ([0]): no recovery,
 * known without asn1c's decoding (the one the RTPM makes follows).
 * 0: anything else, decided by the full decoding. */
static int rtorq_plainly_open(const uint8_t *apdu, size_t len)
{
    x400i_tlv t, f, c;
    size_t off = 0, coff = 0;
    if (x400i_ber_read(apdu, len, &t, X400I_BER_MAX_DEPTH, X400_LAYER_RTSE, NULL) < 0 || t.total != len ||
        !x400i_tlv_is(&t, X400I_BER_CONTEXT, 16) || !t.constructed)
        return 0;
    while (x400i_ber_child(&t, &off, &f, X400_LAYER_RTSE, NULL) == 1)
        if (x400i_tlv_is(&f, X400I_BER_CONTEXT, 3))
            return f.constructed && x400i_ber_child(&f, &coff, &c, X400_LAYER_RTSE, NULL) == 1 &&
                   x400i_tlv_is(&c, X400I_BER_CONTEXT, 0);
    return 0;
}

int x400i_rtse_rtorq_recover_ref(const uint8_t *apdu, size_t len, x400i_rtse_ref *ref)
{
    RTSE_apdus_t *a = NULL;
    asn_dec_rval_t rv;
    int rc;
    if (!apdu || len == 0 || len > CTRL_MAX || !x400i_ber_is_one_tlv(apdu, len)) return X400_ERR_PARSE;
    if (rtorq_plainly_open(apdu, len)) return 0; /* the usual RT-OPEN: not decoded twice */
    rv = ber_decode(NULL, &asn_DEF_RTSE_apdus, (void **)&a, apdu, len);
    if (rv.code != RC_OK || rv.consumed != len || a->present != RTSE_apdus_PR_rtorq_apdu) {
        x400i_rt_free_apdu(a);
        return X400_ERR_PARSE;
    }
    if (a->choice.rtorq_apdu.connectionDataRQ.present != ConnectionData_PR_recover) rc = 0;
    else
        rc = x400i_rt_sci_to_ref(&a->choice.rtorq_apdu.connectionDataRQ.choice.recover, ref) == 0 ? 1 : X400_ERR_PARSE;
    x400i_rt_free_apdu(a);
    return rc;
}

int x400i_rt_send_rtab(x400i_rtse *r, int reason, unsigned reflect, const uint8_t *ud, size_t len)
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
    if (x400i_rt_encode(r, &a) < 0) return X400_ERR_INVALID_ARG;
    return r->lo.u_abort_req(r->lo.user, r->out.p, r->out.len);
}

/* ---- RTORQ / RTOAC ------------------------------------------------------------ */
int x400i_rt_build_rtorq(x400i_rtse *r, int recover)
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
    return x400i_rt_encode(r, &a);
}

int x400i_rt_build_rtoac(x400i_rtse *r, const uint8_t *ud, size_t len, const x400i_rtse_ref *recover)
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
    return x400i_rt_encode(r, &a);
}

int x400i_rt_build_rtorj(x400i_rtse *r, int reason, const uint8_t *ud, size_t len)
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
    return x400i_rt_encode(r, &a);
}

