/* MTA-bind values (X.411 12.1.1: MTABindArgument, MTABindResult,
 * MTABindError), in normal mode wrapped in the X.880 ROS bind-invoke [16],
 * bind-result [17], bind-error [18] as real 1988 MTAs send them inside the
 * RTSE ConnectionData, in X.410-1984 mode carried directly; and the
 * default credential checker. */
#include <string.h>

#include "p1_int.h"
#include "x400p1/p1.h"

#define APP X400I_BER_APPLICATION
#define CTX X400I_BER_CONTEXT
#define UNIV X400I_BER_UNIVERSAL

static int lerr(x400_diag *d, int code, const char *fmt, ...) X400I_PRINTF(3, 4);
static int lerr(x400_diag *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(d, X400_LAYER_P1, X400_SOURCE_LOCAL, code, X400_P1_R_ENCODE, fmt, ap);
    va_end(ap);
    return code;
}

int x400_p1_bind_encode(const x400_p1_bind *b, x400_mode mode, uint8_t *buf, size_t cap,
                        size_t *len, x400_diag *d)
{
    if (!b || !buf || !len || (mode != X400_MODE_NORMAL && mode != X400_MODE_X410))
        return lerr(d, X400_ERR_INVALID_ARG, "MTA-bind encode: bad argument");
    x400i_bw w;
    x400i_bw_init_fixed(&w, buf, cap, X400_LAYER_P1, d);
    size_t m = x400i_bw_len(&w);
    switch (b->pdu) {
    case X400_P1_BIND_ERROR:
        if (b->error < 0 || b->error > 256) return lerr(d, X400_ERR_INVALID_ARG, "MTABindError: %d outside 0..256", b->error);
        x400i_bw_int(&w, UNIV, X400I_U_INTEGER, b->error);
        break;
    case X400_P1_BIND_ARGUMENT:
    case X400_P1_BIND_RESULT: {
        if (!b->authenticated) {
            x400i_bw_prim(&w, UNIV, X400I_U_NULL, NULL, 0);
            break;
        }
        size_t nl = strnlen(b->name, sizeof b->name);
        if (nl == 0 || nl > X400_MTA_NAME_MAX || !x400i_charset_ok(X400I_U_IA5, b->name, nl))
            return lerr(d, nl > X400_MTA_NAME_MAX ? X400_ERR_TOO_LONG : X400_ERR_INVALID_ARG, "MTAName: 1..32 printable IA5 characters");
        if (b->security_context.len && b->pdu == X400_P1_BIND_RESULT)
            return lerr(d, X400_ERR_INVALID_ARG, "MTABindResult has no security context");
        size_t ms = x400i_bw_len(&w);
        if (b->security_context.len) {
            /* [2] SecurityContext: the caller's BER of the SET OF, retagged */
            x400i_tlv t;
            if (x400i_ber_read(b->security_context.p, b->security_context.len, &t, 64, X400_LAYER_P1, NULL) ||
                t.total != b->security_context.len || !t.constructed)
                return lerr(d, X400_ERR_INVALID_ARG, "security-context: not one constructed BER value");
            size_t mc = x400i_bw_len(&w);
            x400i_bw_bytes(&w, t.v, t.vlen);
            x400i_bw_wrap(&w, mc, CTX, 2);
        }
        size_t mc = x400i_bw_len(&w);   /* [1] Credentials (CHOICE: explicit) */
        switch (b->cred) {
        case X400_CRED_SIMPLE_IA5:
        case X400_CRED_SIMPLE_OCTETS:
            if (b->password_len > X400_PASSWORD_MAX) return lerr(d, X400_ERR_TOO_LONG, "Password longer than 62 (ub-password-length)");
            if (b->cred == X400_CRED_SIMPLE_IA5) {
                for (size_t i = 0; i < b->password_len; i++)
                    if (b->password[i] > 0x7F) return lerr(d, X400_ERR_INVALID_ARG, "Password: not IA5");
                x400i_bw_prim(&w, UNIV, X400I_U_IA5, b->password, b->password_len);
            } else {
                x400i_bw_prim(&w, UNIV, X400I_U_OCTETSTRING, b->password, b->password_len);
            }
            break;
        case X400_CRED_STRONG:
        case X400_CRED_PROTECTED: {
            size_t mx = x400i_bw_len(&w);
            x400i_bw_bytes(&w, b->strong.p, b->strong.len);
            x400i_bw_wrap(&w, mx, CTX, b->cred == X400_CRED_STRONG ? 0 : 1);
            break;
        }
        default:
            return lerr(d, X400_ERR_INVALID_ARG, "Credentials: unknown kind %d", (int)b->cred);
        }
        x400i_bw_wrap(&w, mc, CTX, 1);
        x400i_bw_prim(&w, CTX, 0, b->name, nl);
        x400i_bw_wrap(&w, ms, CTX, 1);
        break;
    }
    default:
        return lerr(d, X400_ERR_INVALID_ARG, "MTA-bind encode: unknown PDU %d", (int)b->pdu);
    }
    if (mode == X400_MODE_NORMAL)   /* ROS bind-invoke/-result/-error, X.880 */
        x400i_bw_wrap(&w, m, CTX, 16 + (uint32_t)b->pdu);
    if (w.err) return w.err;
    *len = x400i_bw_len(&w);
    memmove(buf, buf + w.pos, *len);
    return X400_OK;
}

static int perr(x400_diag *d, int code, int reason, const char *fmt, ...) X400I_PRINTF(4, 5);
static int perr(x400_diag *d, int code, int reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    x400i_diag_vset(d, X400_LAYER_P1, X400_SOURCE_PEER, code, reason, fmt, ap);
    va_end(ap);
    return code;
}

static int dec_value(const x400i_tlv *t, x400_p1_bind *b, x400_diag *d)
{
    const char *what = b->pdu == X400_P1_BIND_ARGUMENT ? "MTABindArgument" : "MTABindResult";
    int rc;
    if (b->pdu == X400_P1_BIND_ERROR) {
        int64_t v;
        if (!x400i_tlv_is(t, UNIV, X400I_U_INTEGER)) return perr(d, X400_ERR_PARSE, X400_P1_R_APDU, "MTABindError: not an INTEGER");
        if ((rc = x400i_p1_int(t, 0, 256, &v, "MTABindError", d))) return rc;
        b->error = (int)v;
        return X400_OK;
    }
    if (x400i_tlv_is(t, UNIV, X400I_U_NULL)) {
        if (t->constructed || t->vlen) return perr(d, X400_ERR_PARSE, X400_P1_R_VALUE, "%s: bad NULL", what);
        b->authenticated = 0;
        return X400_OK;
    }
    if (!x400i_tlv_is(t, CTX, 1) || !t->constructed) return perr(d, X400_ERR_PARSE, X400_P1_R_APDU, "%s: neither unauthenticated nor authenticated [1]", what);
    b->authenticated = 1;
    x400i_tlv c;
    size_t off = 0;
    unsigned seen = 0;
    while ((rc = x400i_p1_child(t, &off, &c, d)) == 1) {
        if (c.cls != CTX || c.tag > 2 || (seen & (1u << c.tag)) ||
            (c.tag == 2 && b->pdu == X400_P1_BIND_RESULT))
            return perr(d, X400_ERR_PARSE, X400_P1_R_UNEXPECTED, "%s: unexpected or repeated element [%u]", what, (unsigned)c.tag);
        seen |= 1u << c.tag;
        if (c.tag == 0) {
            if ((rc = x400i_p1_str(&c, X400I_U_IA5, 1, X400_MTA_NAME_MAX, b->name, sizeof b->name, "MTAName", d))) return rc;
        } else if (c.tag == 2) {
            if (!c.constructed) return perr(d, X400_ERR_PARSE, X400_P1_R_VALUE, "security-context: primitive");
            b->security_context = (x400_bytes){ c.raw, c.total };
        } else {
            x400i_tlv k;
            size_t o2 = 0;
            if ((rc = x400i_p1_child(&c, &o2, &k, d)) != 1 || o2 != c.vlen)
                return rc < 0 ? rc : perr(d, X400_ERR_PARSE, X400_P1_R_VALUE, "Credentials: not one choice");
            if (x400i_tlv_is(&k, UNIV, X400I_U_IA5) || x400i_tlv_is(&k, UNIV, X400I_U_OCTETSTRING)) {
                int ia5 = k.tag == X400I_U_IA5;
                if (k.constructed || k.vlen > X400_PASSWORD_MAX)
                    return perr(d, X400_ERR_PARSE, X400_P1_R_VALUE, "Password: constructed or longer than 62");
                if (ia5)
                    for (size_t i = 0; i < k.vlen; i++)
                        if (k.v[i] > 0x7F) return perr(d, X400_ERR_PARSE, X400_P1_R_VALUE, "Password: ia5-string with non-IA5 octet");
                b->cred = ia5 ? X400_CRED_SIMPLE_IA5 : X400_CRED_SIMPLE_OCTETS;
                memcpy(b->password, k.v, k.vlen);
                b->password_len = k.vlen;
            } else if ((x400i_tlv_is(&k, CTX, 0) || x400i_tlv_is(&k, CTX, 1)) && k.constructed) {
                b->cred = k.tag == 0 ? X400_CRED_STRONG : X400_CRED_PROTECTED;
                b->strong = (x400_bytes){ k.v, k.vlen };
            } else {
                return perr(d, X400_ERR_PARSE, X400_P1_R_VALUE, "Credentials: unknown choice (tag %u)", (unsigned)k.tag);
            }
        }
    }
    if (rc < 0) return rc;
    if ((seen & 3) != 3) return perr(d, X400_ERR_PARSE, X400_P1_R_MISSING, "%s: name or credentials missing", what);
    return X400_OK;
}

int x400_p1_bind_decode(const uint8_t *buf, size_t len, x400_mode mode, int expect,
                        x400_p1_bind *out, x400_diag *d)
{
    x400_p1_limits lim;
    x400i_tlv t, in;
    int rc;
    if (!out || (!buf && len) || (mode != X400_MODE_NORMAL && mode != X400_MODE_X410) ||
        expect < -1 || expect > 2 || (mode == X400_MODE_X410 && expect < 0))
        return x400i_diag_set(d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, 0, "MTA-bind decode: bad argument");
    memset(out, 0, sizeof *out);
    x400_p1_limits_init(&lim);
    lim.max_pdu = 65536;
    lim.max_depth = 32;
    lim.max_elements = 4096;
    if ((rc = x400i_p1_prescan(buf, len, &lim, d))) return rc;
    if ((rc = x400i_ber_read(buf, len, &t, lim.max_depth, X400_LAYER_P1, d))) return rc;
    if (mode == X400_MODE_NORMAL) {
        size_t off = 0;
        if (t.cls != CTX || t.tag < 16 || t.tag > 18 || !t.constructed)
            return perr(d, X400_ERR_PARSE, X400_P1_R_APDU, "ROS: tag %u is none of bind-invoke [16], bind-result [17], bind-error [18]", (unsigned)t.tag);
        out->pdu = (x400_p1_bind_pdu)(t.tag - 16);
        if ((rc = x400i_p1_child(&t, &off, &in, d)) != 1 || off != t.vlen)
            return rc < 0 ? rc : perr(d, X400_ERR_PARSE, X400_P1_R_APDU, "ROS bind PDU: not exactly one value");
    } else {
        out->pdu = (x400_p1_bind_pdu)expect;
        in = t;
    }
    if (expect >= 0 && out->pdu != (x400_p1_bind_pdu)expect)
        return perr(d, X400_ERR_PARSE, X400_P1_R_APDU, "MTA-bind: got %s where %s was expected",
                    out->pdu == X400_P1_BIND_ARGUMENT ? "bind-invoke" : out->pdu == X400_P1_BIND_RESULT ? "bind-result" : "bind-error",
                    expect == 0 ? "bind-invoke" : expect == 1 ? "bind-result" : "bind-error");
    return dec_value(&in, out, d);
}

int x400_p1_secret_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    /* Touch max(alen, blen) octets of both (index clamped, never out of
     * bounds) and fold in the length difference: no early exit, no
     * data-dependent branch. */
    size_t n = alen > blen ? alen : blen;
    unsigned x = (unsigned)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned ca = alen ? a[i < alen ? i : alen - 1] : 0;
        unsigned cb = blen ? b[i < blen ? i : blen - 1] : 0;
        x |= ca ^ cb;
    }
    return x == 0;
}

int x400_p1_cred_check_default(void *user, const x400_p1_bind *arg, int *bind_error, x400_diag *d)
{
    const x400_p1_peer_table *tab = user;
    int dummy;
    if (!bind_error) bind_error = &dummy;
    *bind_error = X400_BIND_ERR_AUTHENTICATION;
    if (!tab || !arg || arg->pdu != X400_P1_BIND_ARGUMENT)
        return x400i_diag_set(d, X400_LAYER_P1, X400_SOURCE_LOCAL, X400_ERR_INVALID_ARG, X400_P1_R_CREDENTIALS, "credential check: no peer table or not a bind argument");
    if (arg->authenticated && arg->security_context.len) {
        *bind_error = X400_BIND_ERR_SECURITY_CONTEXT;
        return perr(d, X400_ERR_UNSUPPORTED, X400_P1_R_CREDENTIALS, "MTA-bind: security context offered by \"%s\" is not supported", arg->name);
    }
    if (arg->authenticated && (arg->cred == X400_CRED_STRONG || arg->cred == X400_CRED_PROTECTED))
        return perr(d, X400_ERR_UNSUPPORTED, X400_P1_R_CREDENTIALS, "MTA-bind: %s credentials from \"%s\" are not supported", arg->cred == X400_CRED_STRONG ? "strong" : "protected", arg->name);
    if (!arg->authenticated) {
        for (size_t i = 0; i < tab->n; i++)
            if (tab->peers[i].require_auth) goto refuse_unauth;
        if (tab->n == 0) goto refuse_unauth;
        *bind_error = 0;
        return X400_OK;
    refuse_unauth:
        return perr(d, X400_ERR_REFUSED, X400_P1_R_CREDENTIALS, "MTA-bind: unauthenticated bind refused");
    }
    /* The name is not secret: find the peer, then compare the password in
     * constant time (also against a dummy when the name is unknown, so the
     * timing does not reveal which names exist). */
    const x400_p1_peer *p = NULL;
    for (size_t i = 0; i < tab->n; i++)
        if (tab->peers[i].mta_name && strcmp(tab->peers[i].mta_name, arg->name) == 0) { p = &tab->peers[i]; break; }
    static const uint8_t dummy_pw[X400_PASSWORD_MAX] = { 0 };
    int ok = x400_p1_secret_equal(arg->password, arg->password_len,
                                  p ? p->password : dummy_pw, p ? p->password_len : sizeof dummy_pw);
    if (!p || !ok)
        return perr(d, X400_ERR_REFUSED, X400_P1_R_CREDENTIALS, "MTA-bind: authentication of \"%s\" failed", arg->name);
    *bind_error = 0;
    return X400_OK;
}
