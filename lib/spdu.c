/* X.225 SPDU codec: SPDU structure (8.2), parameters (8.3), basic
 * concatenation (6.3.7).  Strict decoding, zero-copy views; the few
 * leniencies are the `lenient` masks of the table below. */
#include <stdio.h>
#include <string.h>

#include "spdu.h"

/* ---- per-SPDU table ---------------------------------------------------- */

#define REFS (X400I_SP_CALLED_REF | X400I_SP_CALLING_REF | X400I_SP_COMMON_REF | X400I_SP_ADD_REF)
#define CA_ALL (X400I_SP_CA_ITEM | X400I_SP_PROTO_OPT | X400I_SP_TSDU_MAX | X400I_SP_VERSION | \
                X400I_SP_ISN | X400I_SP_TOKEN_SET | X400I_SP_ISN2 | X400I_SP_UPPER_LIMIT | \
                X400I_SP_LARGE_ISN | X400I_SP_LARGE_ISN2)
#define UD (X400I_SP_ENCLOSURE | X400I_SP_USER_DATA)

typedef struct spdu_info {
    const char *name;
    const char *long_name;
    uint8_t si;
    uint8_t category;
    uint32_t allowed;   /* X.225 8.3: what the SPDU may carry (encoded and decoded) */
    uint32_t mandatory;
    uint32_t lenient;   /* accepted on decode only (see each entry), never encoded */
    int8_t carrier;     /* category 2: the category 0 SPDU that must precede it in
                           a TSDU (X.225 6.3.7, basic concatenation); -1 otherwise */
} spdu_info;

#define GT_FIRST X400I_SPDU_GT /* initiating SPDUs travel behind GIVE TOKENS */
#define PT_FIRST X400I_SPDU_PT /* acknowledging SPDUs travel behind PLEASE TOKENS */

static const spdu_info spdu_tab[X400I_SPDU_TYPE_COUNT] = {
    /* CN, X.225 8.3.1: Connection Identifier holds Calling SS-user Reference,
     * Common Reference, Additional Reference Information (PI 10, 11, 12). */
    [X400I_SPDU_CN] = { "CN", "CONNECT", 13, 1,
        X400I_SP_CONN_ID | X400I_SP_CALLING_REF | X400I_SP_COMMON_REF | X400I_SP_ADD_REF | CA_ALL |
        X400I_SP_REQUIREMENTS | X400I_SP_CALLING_SSEL | X400I_SP_CALLED_SSEL | X400I_SP_OVERFLOW |
        X400I_SP_USER_DATA, 0, 0, -1 },
    /* AC, X.225 8.3.4: Connection Identifier holds Called SS-user Reference,
     * Common Reference, Additional Reference Information (PI 9, 11, 12).
     * Leniency: a Calling SS-user Reference (PI 10) in it is accepted (earlier
     * x400p1 versions echoed the CN's reference that way, see
     * test/interop/pp-init-*.txt) and ignored by the SPM. */
    [X400I_SPDU_AC] = { "AC", "ACCEPT", 14, 1,
        X400I_SP_CONN_ID | X400I_SP_CALLED_REF | X400I_SP_COMMON_REF | X400I_SP_ADD_REF | CA_ALL |
        X400I_SP_TOKEN_ITEM | X400I_SP_REQUIREMENTS | X400I_SP_CALLING_SSEL | X400I_SP_CALLED_SSEL | UD,
        0, X400I_SP_CALLING_REF, -1 },
    /* RF, X.225 8.3.5: Connection Identifier (PI 9, 11, 12), Transport
     * Disconnect, Session User Requirements, Version Number, Enclosure Item,
     * Reason Code (mandatory; reason 2 carries the user data). */
    [X400I_SPDU_RF] = { "RF", "REFUSE", 12, 1,
        X400I_SP_CONN_ID | X400I_SP_CALLED_REF | X400I_SP_COMMON_REF | X400I_SP_ADD_REF |
        X400I_SP_TDISC | X400I_SP_REQUIREMENTS | X400I_SP_VERSION | X400I_SP_REASON | UD,
        X400I_SP_REASON, 0, -1 },
    [X400I_SPDU_FN] = { "FN", "FINISH", 9, 1, X400I_SP_TDISC | UD, 0, 0, -1 },
    [X400I_SPDU_DN] = { "DN", "DISCONNECT", 10, 1, UD, 0, 0, -1 },
    [X400I_SPDU_NF] = { "NF", "NOT FINISHED", 8, 1, UD, 0, 0, -1 },
    [X400I_SPDU_AB] = { "AB", "ABORT", 25, 1, X400I_SP_TDISC | X400I_SP_REFLECT | UD, 0, 0, -1 },
    [X400I_SPDU_AA] = { "AA", "ABORT ACCEPT", 26, 1, 0, 0, 0, -1 },
    [X400I_SPDU_GTC] = { "GTC", "GIVE TOKENS CONFIRM", 21, 1, 0, 0, 0, -1 },
    [X400I_SPDU_GTA] = { "GTA", "GIVE TOKENS ACK", 22, 1, 0, 0, 0, -1 },
    /* GT / PT, X.225 8.3.14/8.3.15: Token Item is optional: a GT or PT that
     * only carries a category 2 SPDU has no parameters at all. */
    [X400I_SPDU_GT] = { "GT", "GIVE TOKENS", 1, 0, X400I_SP_TOKEN_ITEM | UD, 0, 0, -1 },
    [X400I_SPDU_PT] = { "PT", "PLEASE TOKENS", 2, 0, X400I_SP_TOKEN_ITEM | UD, 0, 0, -1 },
    [X400I_SPDU_DT] = { "DT", "DATA TRANSFER", 1, 2, UD, 0, 0, GT_FIRST },
    [X400I_SPDU_MIP] = { "MIP", "MINOR SYNC POINT", 49, 2, X400I_SP_SYNC_TYPE | X400I_SP_SERIAL | UD,
        X400I_SP_SERIAL, 0, GT_FIRST },
    [X400I_SPDU_MIA] = { "MIA", "MINOR SYNC ACK", 50, 2, X400I_SP_SERIAL | UD, X400I_SP_SERIAL, 0,
        PT_FIRST },
    [X400I_SPDU_MAP] = { "MAP", "MAJOR SYNC POINT", 41, 2, X400I_SP_SYNC_TYPE | X400I_SP_SERIAL | UD,
        X400I_SP_SERIAL, 0, GT_FIRST },
    [X400I_SPDU_MAA] = { "MAA", "MAJOR SYNC ACK", 42, 2, X400I_SP_SERIAL | UD, X400I_SP_SERIAL, 0,
        PT_FIRST },
    [X400I_SPDU_AS] = { "AS", "ACTIVITY START", 45, 2, X400I_SP_ACT_ID | UD, X400I_SP_ACT_ID, 0,
        GT_FIRST },
    [X400I_SPDU_AR] = { "AR", "ACTIVITY RESUME", 29, 2,
        X400I_SP_LINK | REFS | X400I_SP_OLD_ACT_ID | X400I_SP_LINK_SERIAL | X400I_SP_ACT_ID | UD,
        X400I_SP_LINK | X400I_SP_OLD_ACT_ID | X400I_SP_LINK_SERIAL | X400I_SP_ACT_ID, 0, GT_FIRST },
    [X400I_SPDU_AI] = { "AI", "ACTIVITY INTERRUPT", 25, 2, X400I_SP_REASON, 0, 0, GT_FIRST },
    [X400I_SPDU_AIA] = { "AIA", "ACTIVITY INTERRUPT ACK", 26, 2, 0, 0, 0, PT_FIRST },
    [X400I_SPDU_AD] = { "AD", "ACTIVITY DISCARD", 57, 2, X400I_SP_REASON, 0, 0, GT_FIRST },
    [X400I_SPDU_ADA] = { "ADA", "ACTIVITY DISCARD ACK", 58, 2, 0, 0, 0, PT_FIRST },
    /* AE, X.225 8.3: Serial Number, Enclosure Item, User Data.  It shares
     * SI 41 with MAP; a Sync Type Item without "not end of activity" is read
     * as AE (decode only). */
    [X400I_SPDU_AE] = { "AE", "ACTIVITY END", 41, 2, X400I_SP_SERIAL | UD, X400I_SP_SERIAL,
        X400I_SP_SYNC_TYPE, GT_FIRST },
    [X400I_SPDU_AEA] = { "AEA", "ACTIVITY END ACK", 42, 2, X400I_SP_SERIAL | UD, X400I_SP_SERIAL, 0,
        PT_FIRST },
    [X400I_SPDU_ER] = { "ER", "EXCEPTION REPORT", 0, 2, X400I_SP_REFLECT, 0, 0, PT_FIRST },
    [X400I_SPDU_ED] = { "ED", "EXCEPTION DATA", 48, 2, X400I_SP_REASON | UD, X400I_SP_REASON, 0,
        PT_FIRST },
};

const char *x400i_spdu_name(x400i_spdu_type t)
{
    return (unsigned)t < X400I_SPDU_TYPE_COUNT ? spdu_tab[t].name : "?";
}
uint8_t x400i_spdu_si(x400i_spdu_type t)
{
    return (unsigned)t < X400I_SPDU_TYPE_COUNT ? spdu_tab[t].si : 0xFF;
}
int x400i_spdu_category(x400i_spdu_type t)
{
    return (unsigned)t < X400I_SPDU_TYPE_COUNT ? spdu_tab[t].category : -1;
}
uint32_t x400i_spdu_allowed(x400i_spdu_type t)
{
    return (unsigned)t < X400I_SPDU_TYPE_COUNT ? spdu_tab[t].allowed : 0;
}
uint32_t x400i_spdu_mandatory(x400i_spdu_type t)
{
    return (unsigned)t < X400I_SPDU_TYPE_COUNT ? spdu_tab[t].mandatory : 0;
}
int x400i_spdu_carrier(x400i_spdu_type t)
{
    return (unsigned)t < X400I_SPDU_TYPE_COUNT ? spdu_tab[t].carrier : -1;
}

/* SI codes of SPDUs this implementation knows but does not support
 * (functional units outside the X.400 P1 profile). */
static const char *unsupported_si_name(uint8_t si)
{
    switch (si) {
    case 3: return "GIVE TOKENS CONFIRM (extended)";
    case 5: return "EXPEDITED (EX)";
    case 7: return "PREPARE (PR)";
    case 15: return "CONNECT DATA OVERFLOW (CDO)";
    case 16: return "OVERFLOW ACCEPT (OA)";
    case 33: return "TYPED DATA (TD)";
    case 34: return "RESYNCHRONIZE ACK (RA)";
    case 53: return "RESYNCHRONIZE (RS)";
    case 61: return "CAPABILITY DATA (CD)";
    case 62: return "CAPABILITY DATA ACK (CDA)";
    default: return NULL;
    }
}

/* SPDU kind for an SI code at the start of a TSDU (category 0 or 1). */
static int first_type(uint8_t si)
{
    for (int t = 0; t < X400I_SPDU_TYPE_COUNT; t++)
        if (spdu_tab[t].si == si && spdu_tab[t].category != 2) return t;
    return -1;
}
/* SPDU kind for an SI code after a category 0 SPDU (category 2). */
static int second_type(uint8_t si)
{
    for (int t = 0; t < X400I_SPDU_TYPE_COUNT; t++)
        if (spdu_tab[t].si == si && spdu_tab[t].category == 2 && t != X400I_SPDU_AE &&
            t != X400I_SPDU_AEA)
            return t;
    return -1;
}

const char *x400i_ses_refuse_reason_name(int reason)
{
    switch (reason) {
    case 0: return "rejection by called SS-user, reason not specified";
    case 1: return "rejection by called SS-user, temporary congestion";
    case 2: return "rejection by called SS-user (with user data)";
    case 0x81: return "session selector unknown";
    case 0x82: return "SS-user not attached to SSAP";
    case 0x83: return "SPM congestion at connect time";
    case 0x84: return "proposed protocol versions not supported";
    case 0x85: return "rejection by the SPM, reason not specified";
    case 0x86: return "rejection by the SPM, implementation restriction";
    default: return "unknown refusal reason";
    }
}

const char *x400i_ses_exception_reason_name(int reason)
{
    switch (reason) {
    case 0: return "no specific reason stated";
    case 1: return "SS-user temporarily unable to continue";
    case 3: return "SS-user sequence error";
    case 5: return "local SS-user error";
    case 6: return "unrecoverable procedural error";
    case 128: return "demand data token";
    default: return "unknown exception reason";
    }
}

/* ---- decoding ---------------------------------------------------------- */

enum ctx { CTX_TOP, CTX_PGI1, CTX_PGI5, CTX_PGI33 };

static const char *ctx_name(enum ctx c)
{
    switch (c) {
    case CTX_PGI1: return " inside Connection Identifier (PGI 1)";
    case CTX_PGI5: return " inside Connect/Accept Item (PGI 5)";
    case CTX_PGI33: return " inside Linking Information (PGI 33)";
    default: return "";
    }
}

#define PERR(d, ...) x400i_diag_set((d), X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_PARSE, 0, __VA_ARGS__)

/* Length indicator: one octet 0..254, or 0xFF + two octets 255..65535
 * (X.225 8.2.5).  The three-octet form for a value below 255 is refused. */
/* The length indicator of the SPDU `nm` (pi < 0) or of its parameter pi
 * in context c (X.225 8.2.5); the name in a diagnostic is formatted only
 * when there is one (this runs for every SPDU and parameter). */
static int get_li(x400i_rd *r, size_t *len, const char *nm, int pi, enum ctx c, x400_diag *d)
{
    uint8_t b;
    uint16_t v = 0;
    const char *why;
    char what[64];
    if (!x400i_rd_u8(r, &b)) why = "length indicator missing (truncated)";
    else if (b != 0xFF) {
        *len = b;
        return 0;
    } else if (!x400i_rd_u16be(r, &v)) why = "three-octet length indicator truncated";
    else if (v < 255) why = NULL;
    else {
        *len = v;
        return 0;
    }
    if (pi < 0) snprintf(what, sizeof what, "%s SPDU", nm);
    else snprintf(what, sizeof what, "%s: PI %d%s", nm, pi, ctx_name(c));
    if (!why)
        return PERR(d, "%s: three-octet length indicator holds %u (< 255 must use one octet)", what,
                    (unsigned)v);
    return PERR(d, "%s: %s", what, why);
}

static int parse_digits(const uint8_t *p, size_t n, uint32_t *v)
{
    uint32_t x = 0;
    if (n < 1 || n > 6) return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        x = x * 10 + (uint32_t)(p[i] - '0');
    }
    *v = x;
    return 0;
}

/* Map (context, code) to a presence bit; 0 = not a PI of that context. */
static uint32_t pi_slot(enum ctx c, uint8_t code, x400i_spdu_type t)
{
    switch (c) {
    case CTX_PGI1:
        switch (code) {
        case 9: return X400I_SP_CALLED_REF;
        case 10: return X400I_SP_CALLING_REF;
        case 11: return X400I_SP_COMMON_REF;
        case 12: return X400I_SP_ADD_REF;
        default: return 0;
        }
    case CTX_PGI33:
        switch (code) {
        case 9: return X400I_SP_CALLED_REF;
        case 10: return X400I_SP_CALLING_REF;
        case 11: return X400I_SP_COMMON_REF;
        case 12: return X400I_SP_ADD_REF;
        case 41: return X400I_SP_OLD_ACT_ID;
        case 42: return X400I_SP_LINK_SERIAL;
        default: return 0;
        }
    case CTX_PGI5:
        switch (code) {
        case 19: return X400I_SP_PROTO_OPT;
        case 21: return X400I_SP_TSDU_MAX;
        case 22: return X400I_SP_VERSION;
        case 23: return X400I_SP_ISN;
        case 26: return X400I_SP_TOKEN_SET;
        case 55: return X400I_SP_ISN2;
        case 56: return X400I_SP_UPPER_LIMIT;
        case 57: return X400I_SP_LARGE_ISN;
        case 58: return X400I_SP_LARGE_ISN2;
        default: return 0;
        }
    case CTX_TOP:
        switch (code) {
        case 1: return X400I_SP_CONN_ID;
        case 5: return X400I_SP_CA_ITEM;
        case 33: return X400I_SP_LINK;
        case 15: return X400I_SP_SYNC_TYPE;
        case 16: return X400I_SP_TOKEN_ITEM;
        case 17: return X400I_SP_TDISC;
        case 20: return X400I_SP_REQUIREMENTS;
        case 22: return t == X400I_SPDU_RF ? X400I_SP_VERSION : 0; /* RF only */
        case 25: return X400I_SP_ENCLOSURE;
        case 41: return X400I_SP_ACT_ID;
        case 42: return X400I_SP_SERIAL;
        case 49: return X400I_SP_REFLECT;
        case 50: return X400I_SP_REASON;
        case 51: return X400I_SP_CALLING_SSEL;
        case 52: return X400I_SP_CALLED_SSEL;
        case 60: return X400I_SP_OVERFLOW;
        case 193: case 194: return X400I_SP_USER_DATA;
        default: return 0;
        }
    }
    return 0;
}

static int known_pi_code(uint8_t code)
{
    static const uint8_t codes[] = { 1, 5, 9, 10, 11, 12, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26,
                                     27, 33, 41, 42, 46, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 60,
                                     193, 194 };
    for (size_t i = 0; i < sizeof codes; i++)
        if (codes[i] == code) return 1;
    return 0;
}

static int parse_params(x400i_spdu *s, enum ctx c, const uint8_t *p, size_t len, x400_diag *d);

static int check_len(const x400i_spdu *s, uint8_t code, size_t n, size_t min, size_t max, enum ctx c,
                     x400_diag *d)
{
    if (n < min || n > max) {
        if (min == max)
            return PERR(d, "%s: PI %u%s has length %zu, must be %zu", x400i_spdu_name(s->type),
                        code, ctx_name(c), n, min);
        return PERR(d, "%s: PI %u%s has length %zu, must be %zu..%zu", x400i_spdu_name(s->type),
                    code, ctx_name(c), n, min, max);
    }
    return 0;
}

static int set_value(x400i_spdu *s, uint32_t slot, uint8_t code, const uint8_t *v, size_t n,
                     enum ctx c, x400_diag *d)
{
    int rc = 0;
    const char *nm = x400i_spdu_name(s->type);
    x400i_view view = { v, n };
    switch (slot) {
    case X400I_SP_CONN_ID:
        return parse_params(s, CTX_PGI1, v, n, d);
    case X400I_SP_CA_ITEM:
        return parse_params(s, CTX_PGI5, v, n, d);
    case X400I_SP_LINK:
        return parse_params(s, CTX_PGI33, v, n, d);
    case X400I_SP_CALLED_REF:
    case X400I_SP_CALLING_REF:
    case X400I_SP_COMMON_REF:
        if ((rc = check_len(s, code, n, 0, X400I_REF_MAX, c, d))) return rc;
        if (slot == X400I_SP_CALLED_REF) s->called_ref = view;
        else if (slot == X400I_SP_CALLING_REF) s->calling_ref = view;
        else s->common_ref = view;
        return 0;
    case X400I_SP_ADD_REF:
        if ((rc = check_len(s, code, n, 0, X400I_ADD_REF_MAX, c, d))) return rc;
        s->add_ref = view;
        return 0;
    case X400I_SP_SYNC_TYPE:
    case X400I_SP_TOKEN_ITEM:
    case X400I_SP_TDISC:
    case X400I_SP_PROTO_OPT:
    case X400I_SP_VERSION:
    case X400I_SP_ENCLOSURE:
    case X400I_SP_TOKEN_SET:
    case X400I_SP_UPPER_LIMIT:
    case X400I_SP_OVERFLOW:
        if ((rc = check_len(s, code, n, 1, 1, c, d))) return rc;
        switch (slot) {
        case X400I_SP_SYNC_TYPE: s->sync_type = v[0]; break;
        case X400I_SP_TOKEN_ITEM:
            if (v[0] & ~X400I_TOKEN_ALL)
                return PERR(d, "%s: Token Item 0x%02x has reserved bits set", nm, v[0]);
            s->token_item = v[0];
            break;
        case X400I_SP_TDISC: s->tdisc = v[0]; break;
        case X400I_SP_PROTO_OPT: s->protocol_options = v[0]; break;
        case X400I_SP_VERSION:
            if (!(v[0] & 0x03))
                return PERR(d, "%s: Version Number 0x%02x offers neither version 1 nor 2", nm, v[0]);
            s->version = v[0];
            break;
        case X400I_SP_ENCLOSURE:
            if (v[0] != 0x03)
                return x400i_diag_set(d, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_UNSUPPORTED,
                                      0, "%s: Enclosure Item 0x%02x: segmented SSDUs are not "
                                      "supported (segmenting was not negotiated)", nm, v[0]);
            s->enclosure = v[0];
            break;
        case X400I_SP_TOKEN_SET: s->token_setting = v[0]; break;
        case X400I_SP_UPPER_LIMIT:
            if (v[0] > 6) return PERR(d, "%s: Upper Limit Serial Number %u > 6", nm, v[0]);
            s->upper_limit = v[0];
            break;
        default: s->data_overflow = v[0]; break;
        }
        return 0;
    case X400I_SP_REQUIREMENTS:
        if ((rc = check_len(s, code, n, 2, 2, c, d))) return rc;
        s->requirements = (uint16_t)(v[0] << 8 | v[1]);
        return 0;
    case X400I_SP_TSDU_MAX:
        if ((rc = check_len(s, code, n, 4, 4, c, d))) return rc;
        s->tsdu_max_i2r = (uint16_t)(v[0] << 8 | v[1]);
        s->tsdu_max_r2i = (uint16_t)(v[2] << 8 | v[3]);
        return 0;
    case X400I_SP_ISN:
    case X400I_SP_ISN2:
    case X400I_SP_SERIAL:
    case X400I_SP_LINK_SERIAL: {
        uint32_t x;
        if ((rc = check_len(s, code, n, 1, 6, c, d))) return rc;
        if (parse_digits(v, n, &x))
            return PERR(d, "%s: PI %u%s is not a decimal serial number", nm, code, ctx_name(c));
        if (slot == X400I_SP_ISN) s->isn = x;
        else if (slot == X400I_SP_ISN2) s->isn2 = x;
        else if (slot == X400I_SP_SERIAL) s->serial = x;
        else s->link_serial = x;
        return 0;
    }
    case X400I_SP_LARGE_ISN:
    case X400I_SP_LARGE_ISN2:
        if ((rc = check_len(s, code, n, 1, 64, c, d))) return rc;
        for (size_t i = 0; i < n; i++)
            if (v[i] < '0' || v[i] > '9')
                return PERR(d, "%s: PI %u is not a decimal serial number", nm, code);
        if (slot == X400I_SP_LARGE_ISN) s->large_isn = view;
        else s->large_isn2 = view;
        return 0;
    case X400I_SP_ACT_ID:
    case X400I_SP_OLD_ACT_ID:
        if ((rc = check_len(s, code, n, 1, X400I_ACT_ID_MAX, c, d))) return rc;
        if (slot == X400I_SP_ACT_ID) s->activity_id = view;
        else s->old_activity_id = view;
        return 0;
    case X400I_SP_REFLECT:
        if ((rc = check_len(s, code, n, 0, 9, c, d))) return rc;
        s->reflect = view;
        return 0;
    case X400I_SP_REASON:
        if ((rc = check_len(s, code, n, 1, s->type == X400I_SPDU_RF ? 65535 : 1, c, d))) return rc;
        s->reason = v[0];
        if (s->type == X400I_SPDU_RF && n > 1) {
            if (v[0] != 2)
                return PERR(d, "RF: reason code %u carries %zu further octets; only reason 2 "
                            "(rejection by SS-user) may carry user data", v[0], n - 1);
            if (s->present & X400I_SP_USER_DATA)
                return PERR(d, "RF: user data both in the reason code and in PGI 193");
            s->user_data.p = v + 1;
            s->user_data.len = n - 1;
            s->present |= X400I_SP_USER_DATA;
        }
        return 0;
    case X400I_SP_CALLING_SSEL:
    case X400I_SP_CALLED_SSEL:
        if ((rc = check_len(s, code, n, 0, X400I_SSEL_MAX, c, d))) return rc;
        if (slot == X400I_SP_CALLING_SSEL) s->calling_ssel = view;
        else s->called_ssel = view;
        return 0;
    case X400I_SP_USER_DATA:
        if (code == 194 && s->type != X400I_SPDU_CN)
            return PERR(d, "%s: Extended User Data (PGI 194) is only allowed in CN", nm);
        if (code == 193 && s->type == X400I_SPDU_RF)
            return PERR(d, "RF: User Data (PGI 193) not allowed; refusal data travels in the reason code");
        s->user_data = view;
        return 0;
    default:
        return x400i_diag_set(d, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_INTERNAL, 0,
                              "spdu: unhandled slot 0x%x", (unsigned)slot);
    }
}

static int parse_params(x400i_spdu *s, enum ctx c, const uint8_t *p, size_t len, x400_diag *d)
{
    x400i_rd r;
    const char *nm = x400i_spdu_name(s->type);
    x400i_rd_init(&r, p, len);
    while (x400i_rd_left(&r) > 0) {
        uint8_t code = 0;
        size_t n;
        const uint8_t *v;
        uint32_t slot;
        int rc;
        (void)x400i_rd_u8(&r, &code);
        if ((rc = get_li(&r, &n, nm, code, c, d))) return rc;
        if (n > x400i_rd_left(&r))
            return PERR(d, "%s: PI %u%s length %zu runs past the end of its %s (%zu octets left)",
                        nm, code, ctx_name(c), n, c == CTX_TOP ? "SPDU" : "group", x400i_rd_left(&r));
        (void)x400i_rd_bytes(&r, n, &v);
        slot = pi_slot(c, code, s->type);
        if (!slot) {
            if (!known_pi_code(code))
                return PERR(d, "%s: unknown parameter code %u%s", nm, code, ctx_name(c));
            return PERR(d, "%s: PI %u not allowed%s%s", nm, code, ctx_name(c),
                        c == CTX_TOP ? " at the top level" : "");
        }
        if (!((x400i_spdu_allowed(s->type) | spdu_tab[s->type].lenient) & slot))
            return PERR(d, "%s: parameter %u%s is not allowed in %s", nm, code, ctx_name(c), nm);
        if (s->present & slot)
            return PERR(d, "%s: parameter %u%s duplicated", nm, code, ctx_name(c));
        s->present |= slot;
        if ((rc = set_value(s, slot, code, v, n, c, d))) return rc;
    }
    return 0;
}

/* Name of a category 2 SPDU for concatenation diagnostics: SI 41 and 42
 * are only told apart (MAP/AE, MAA/AEA) after their parameters. */
static const char *pair_name(int t)
{
    if (t == X400I_SPDU_MAP) return "MAP/AE";
    if (t == X400I_SPDU_MAA) return "MAA/AEA";
    return x400i_spdu_name((x400i_spdu_type)t);
}

void x400i_spdu_iter_init(x400i_spdu_iter *it, const uint8_t *tsdu, size_t len, unsigned flags)
{
    it->p = tsdu;
    it->len = len;
    it->off = 0;
    it->flags = flags;
    it->count = 0;
    it->first_cat = -1;
    it->first_type = -1;
}

int x400i_spdu_next(x400i_spdu_iter *it, x400i_spdu *s, x400_diag *d)
{
    x400i_rd r;
    uint8_t si = 0;
    size_t li;
    int t, rc;
    const uint8_t *params;

    if (it->off >= it->len) {
        if (it->count == 0) return PERR(d, "empty TSDU (no SPDU)");
        return 0;
    }
    if (it->count >= 2)
        return PERR(d, "more than two SPDUs in one TSDU: extended concatenation was not negotiated");
    x400i_rd_init(&r, it->p + it->off, it->len - it->off);
    (void)x400i_rd_u8(&r, &si);
    if (it->count == 0) {
        t = first_type(si);
        if (t < 0) {
            int t2 = second_type(si);
            if (t2 >= 0)
                return PERR(d, "%s SPDU (SI %u, category 2) not preceded by a category 0 SPDU "
                            "(X.225 6.3.7)", x400i_spdu_name((x400i_spdu_type)t2), si);
        }
    } else {
        if (it->first_cat != 0)
            return PERR(d, "SPDU of category %d followed by further octets: only category 0 "
                        "SPDUs may be concatenated", it->first_cat);
        t = second_type(si);
        if (t < 0 && first_type(si) >= 0)
            return PERR(d, "%s SPDU (SI %u) may not follow a category 0 SPDU in a TSDU",
                        x400i_spdu_name((x400i_spdu_type)first_type(si)), si);
        /* X.225 6.3.7: GT in front of the initiating SPDUs, PT in front of
         * the acknowledging ones; no other pairing (ISODE refuses it too). */
        if (t >= 0 && spdu_tab[t].carrier != it->first_type)
            return PERR(d, "%s SPDU (SI %u) may not be concatenated after %s: X.225 basic "
                        "concatenation carries %s behind %s", pair_name(t), si,
                        x400i_spdu_name((x400i_spdu_type)it->first_type), pair_name(t),
                        x400i_spdu_name((x400i_spdu_type)spdu_tab[t].carrier));
    }
    if (t < 0) {
        const char *un = unsupported_si_name(si);
        if (un)
            return x400i_diag_set(d, X400_LAYER_SESSION, X400_SOURCE_PEER, X400_ERR_UNSUPPORTED, 0,
                                  "%s SPDU (SI %u) not supported: its functional unit is not "
                                  "implemented", un, si);
        return PERR(d, "unknown SPDU identifier %u", si);
    }
    memset(s, 0, sizeof *s);
    s->type = (x400i_spdu_type)t;
    if ((rc = get_li(&r, &li, x400i_spdu_name(s->type), -1, CTX_TOP, d))) return rc;
    if (li > x400i_rd_left(&r))
        return PERR(d, "%s SPDU: length indicator %zu runs past the end of the TSDU (%zu octets left)",
                    x400i_spdu_name(s->type), li, x400i_rd_left(&r));
    (void)x400i_rd_bytes(&r, li, &params);
    if ((rc = parse_params(s, CTX_TOP, params, li, d))) return rc;
    if (s->type == X400I_SPDU_DT) {
        /* User Information field: the rest of the TSDU (X.225 8.3.11). */
        if (s->present & X400I_SP_USER_DATA)
            return PERR(d, "DT SPDU: User Data PGI not allowed; data follows the parameter field");
        s->user_data.p = r.p + r.off;
        s->user_data.len = x400i_rd_left(&r);
        s->present |= X400I_SP_USER_DATA;
        r.off = r.len;
    }
    /* SI 41: MAJOR SYNC POINT or, with activity management, ACTIVITY END. */
    if (s->type == X400I_SPDU_MAP && (it->flags & X400I_SPDU_DEC_ACTIVITY) &&
        !((s->present & X400I_SP_SYNC_TYPE) && (s->sync_type & X400I_SYNC_NOEXPL)))
        s->type = X400I_SPDU_AE;
    if ((s->present & x400i_spdu_mandatory(s->type)) != x400i_spdu_mandatory(s->type)) {
        static const struct { uint32_t bit; const char *name; } mn[] = {
            { X400I_SP_REASON, "Reason Code (PI 50)" },
            { X400I_SP_TOKEN_ITEM, "Token Item (PI 16)" },
            { X400I_SP_SERIAL, "Serial Number (PI 42)" },
            { X400I_SP_ACT_ID, "Activity Identifier (PI 41)" },
            { X400I_SP_LINK, "Linking Information (PGI 33)" },
            { X400I_SP_OLD_ACT_ID, "old Activity Identifier (PGI 33 / PI 41)" },
            { X400I_SP_LINK_SERIAL, "Serial Number (PGI 33 / PI 42)" },
        };
        uint32_t miss = x400i_spdu_mandatory(s->type) & ~s->present;
        for (size_t i = 0; i < X400I_ARRAY_LEN(mn); i++)
            if (miss & mn[i].bit)
                return PERR(d, "%s SPDU: mandatory parameter %s missing", x400i_spdu_name(s->type),
                            mn[i].name);
        return PERR(d, "%s SPDU: mandatory parameter missing", x400i_spdu_name(s->type));
    }
    if (it->count == 0) {
        it->first_cat = spdu_tab[s->type].category;
        it->first_type = (int)s->type;
    }
    it->count++;
    it->off += r.off;
    if (it->count == 1 && it->first_cat == 1 && it->off < it->len)
        return PERR(d, "%s SPDU (category 1) followed by %zu further octets: category 1 SPDUs are "
                    "never concatenated", x400i_spdu_name(s->type), it->len - it->off);
    return 1;
}

int x400i_spdu_decode_tsdu(const uint8_t *tsdu, size_t len, unsigned flags, x400i_spdu out[2],
                           x400_diag *d)
{
    x400i_spdu_iter it;
    int n = 0, rc;
    x400i_spdu_iter_init(&it, tsdu, len, flags);
    while ((rc = x400i_spdu_next(&it, &out[n > 1 ? 1 : n], d)) > 0) {
        n++;
        if (n > 2) return PERR(d, "more than two SPDUs in one TSDU");
    }
    return rc < 0 ? rc : n;
}

/* ---- encoding ---------------------------------------------------------- */

/* A writer that only counts when p is NULL (sizing pass). */
typedef struct wr {
    uint8_t *p;
    size_t n;
} wr;

static void w_bytes(wr *w, const void *v, size_t n)
{
    if (w->p && n) memcpy(w->p + w->n, v, n);
    w->n += n;
}
static void w_u8(wr *w, uint8_t v) { w_bytes(w, &v, 1); }
static void w_li(wr *w, size_t len)
{
    if (len < 255) {
        w_u8(w, (uint8_t)len);
    } else {
        w_u8(w, 0xFF);
        w_u8(w, (uint8_t)(len >> 8));
        w_u8(w, (uint8_t)len);
    }
}
static size_t li_size(size_t len) { return len < 255 ? 1 : 3; }
static void w_pi(wr *w, uint8_t code, const void *v, size_t n)
{
    w_u8(w, code);
    w_li(w, n);
    w_bytes(w, v, n);
}
static size_t pi_size(size_t n) { return 1 + li_size(n) + n; }

static size_t digits(uint32_t v, uint8_t out[10])
{
    uint8_t tmp[10];
    size_t n = 0, i;
    do {
        tmp[n++] = (uint8_t)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof tmp);
    for (i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}
static void w_serial(wr *w, uint8_t code, uint32_t v)
{
    uint8_t b[10];
    size_t n = digits(v, b);
    w_pi(w, code, b, n);
}

static size_t refs_size(const x400i_spdu *s)
{
    size_t n = 0;
    if (s->present & X400I_SP_CALLED_REF) n += pi_size(s->called_ref.len);
    if (s->present & X400I_SP_CALLING_REF) n += pi_size(s->calling_ref.len);
    if (s->present & X400I_SP_COMMON_REF) n += pi_size(s->common_ref.len);
    if (s->present & X400I_SP_ADD_REF) n += pi_size(s->add_ref.len);
    return n;
}
static void w_refs(wr *w, const x400i_spdu *s)
{
    if (s->present & X400I_SP_CALLED_REF) w_pi(w, 9, s->called_ref.p, s->called_ref.len);
    if (s->present & X400I_SP_CALLING_REF) w_pi(w, 10, s->calling_ref.p, s->calling_ref.len);
    if (s->present & X400I_SP_COMMON_REF) w_pi(w, 11, s->common_ref.p, s->common_ref.len);
    if (s->present & X400I_SP_ADD_REF) w_pi(w, 12, s->add_ref.p, s->add_ref.len);
}

static void w_ca_item(wr *w, const x400i_spdu *s)
{
    if (s->present & X400I_SP_PROTO_OPT) w_pi(w, 19, &s->protocol_options, 1);
    if (s->present & X400I_SP_TSDU_MAX) {
        uint8_t b[4] = { (uint8_t)(s->tsdu_max_i2r >> 8), (uint8_t)s->tsdu_max_i2r,
                         (uint8_t)(s->tsdu_max_r2i >> 8), (uint8_t)s->tsdu_max_r2i };
        w_pi(w, 21, b, 4);
    }
    if (s->present & X400I_SP_VERSION) w_pi(w, 22, &s->version, 1);
    if (s->present & X400I_SP_ISN) w_serial(w, 23, s->isn);
    if (s->present & X400I_SP_TOKEN_SET) w_pi(w, 26, &s->token_setting, 1);
    if (s->present & X400I_SP_ISN2) w_serial(w, 55, s->isn2);
    if (s->present & X400I_SP_UPPER_LIMIT) w_pi(w, 56, &s->upper_limit, 1);
    if (s->present & X400I_SP_LARGE_ISN) w_pi(w, 57, s->large_isn.p, s->large_isn.len);
    if (s->present & X400I_SP_LARGE_ISN2) w_pi(w, 58, s->large_isn2.p, s->large_isn2.len);
}
static size_t ca_item_size(const x400i_spdu *s)
{
    wr w = { NULL, 0 };
    w_ca_item(&w, s);
    return w.n;
}

/* Parameter field in X.225 order (the decoder accepts any order). */
static void w_params(wr *w, const x400i_spdu *s)
{
    uint32_t pr = s->present;
    if (pr & X400I_SP_CONN_ID) {
        size_t n = refs_size(s);
        w_u8(w, 1);
        w_li(w, n);
        w_refs(w, s);
    }
    if (pr & X400I_SP_LINK) {
        uint8_t b[10];
        size_t n = refs_size(s) + pi_size(s->old_activity_id.len) + pi_size(digits(s->link_serial, b));
        w_u8(w, 33);
        w_li(w, n);
        w_refs(w, s);
        w_pi(w, 41, s->old_activity_id.p, s->old_activity_id.len);
        w_serial(w, 42, s->link_serial);
    }
    if (pr & X400I_SP_CA_ITEM) {
        w_u8(w, 5);
        w_li(w, ca_item_size(s));
        w_ca_item(w, s);
    }
    if (pr & X400I_SP_SYNC_TYPE) w_pi(w, 15, &s->sync_type, 1);
    if (pr & X400I_SP_TOKEN_ITEM) w_pi(w, 16, &s->token_item, 1);
    if (pr & X400I_SP_TDISC) w_pi(w, 17, &s->tdisc, 1);
    if (pr & X400I_SP_REQUIREMENTS) {
        uint8_t b[2] = { (uint8_t)(s->requirements >> 8), (uint8_t)s->requirements };
        w_pi(w, 20, b, 2);
    }
    if ((pr & X400I_SP_VERSION) && s->type == X400I_SPDU_RF) w_pi(w, 22, &s->version, 1);
    if (pr & X400I_SP_ACT_ID) w_pi(w, 41, s->activity_id.p, s->activity_id.len);
    if (pr & X400I_SP_SERIAL) w_serial(w, 42, s->serial);
    if (pr & X400I_SP_REFLECT) w_pi(w, 49, s->reflect.p, s->reflect.len);
    if (pr & X400I_SP_REASON) {
        if (s->type == X400I_SPDU_RF && (pr & X400I_SP_USER_DATA)) {
            w_u8(w, 50);
            w_li(w, 1 + s->user_data.len);
            w_u8(w, s->reason);
            w_bytes(w, s->user_data.p, s->user_data.len);
        } else {
            w_pi(w, 50, &s->reason, 1);
        }
    }
    if (pr & X400I_SP_CALLING_SSEL) w_pi(w, 51, s->calling_ssel.p, s->calling_ssel.len);
    if (pr & X400I_SP_CALLED_SSEL) w_pi(w, 52, s->called_ssel.p, s->called_ssel.len);
    if (pr & X400I_SP_OVERFLOW) w_pi(w, 60, &s->data_overflow, 1);
    if (pr & X400I_SP_ENCLOSURE) w_pi(w, 25, &s->enclosure, 1);
    if ((pr & X400I_SP_USER_DATA) && s->type != X400I_SPDU_DT && s->type != X400I_SPDU_RF) {
        /* CN: more than 512 octets need Extended User Data (X.225 8.3.1.18). */
        uint8_t code = (s->type == X400I_SPDU_CN && s->user_data.len > 512) ? 194 : 193;
        w_pi(w, code, s->user_data.p, s->user_data.len);
    }
}

#define LERR(d, code, ...) x400i_diag_set((d), X400_LAYER_SESSION, X400_SOURCE_LOCAL, (code), 0, __VA_ARGS__)

static int check_encode(const x400i_spdu *s, x400_diag *d)
{
    const char *nm;
    uint32_t extra, miss;
    if ((unsigned)s->type >= X400I_SPDU_TYPE_COUNT)
        return LERR(d, X400_ERR_INVALID_ARG, "encode: bad SPDU type %d", (int)s->type);
    nm = x400i_spdu_name(s->type);
    extra = s->present & ~x400i_spdu_allowed(s->type);
    if (extra)
        return LERR(d, X400_ERR_INVALID_ARG, "encode %s: parameters 0x%x not allowed", nm, (unsigned)extra);
    miss = x400i_spdu_mandatory(s->type) & ~s->present;
    if (miss)
        return LERR(d, X400_ERR_INVALID_ARG, "encode %s: mandatory parameters 0x%x missing", nm,
                    (unsigned)miss);
    if ((s->present & REFS) && !(s->present & (X400I_SP_CONN_ID | X400I_SP_LINK)))
        return LERR(d, X400_ERR_INVALID_ARG, "encode %s: references without their group", nm);
    if ((s->present & (CA_ALL & ~X400I_SP_CA_ITEM & ~X400I_SP_VERSION)) && !(s->present & X400I_SP_CA_ITEM))
        return LERR(d, X400_ERR_INVALID_ARG, "encode %s: Connect/Accept Item members without PGI 5", nm);
    if ((s->present & X400I_SP_VERSION) && s->type != X400I_SPDU_RF && !(s->present & X400I_SP_CA_ITEM))
        return LERR(d, X400_ERR_INVALID_ARG, "encode %s: Version Number without PGI 5", nm);
    if (((s->present & X400I_SP_CALLED_REF) && s->called_ref.len > X400I_REF_MAX) ||
        ((s->present & X400I_SP_CALLING_REF) && s->calling_ref.len > X400I_REF_MAX) ||
        ((s->present & X400I_SP_COMMON_REF) && s->common_ref.len > X400I_REF_MAX) ||
        ((s->present & X400I_SP_ADD_REF) && s->add_ref.len > X400I_ADD_REF_MAX))
        return LERR(d, X400_ERR_TOO_LONG, "encode %s: reference longer than X.225 allows", nm);
    if (((s->present & X400I_SP_CALLING_SSEL) && s->calling_ssel.len > X400I_SSEL_MAX) ||
        ((s->present & X400I_SP_CALLED_SSEL) && s->called_ssel.len > X400I_SSEL_MAX))
        return LERR(d, X400_ERR_TOO_LONG, "encode %s: session selector longer than 16 octets", nm);
    if (((s->present & X400I_SP_ACT_ID) && (s->activity_id.len < 1 || s->activity_id.len > X400I_ACT_ID_MAX)) ||
        ((s->present & X400I_SP_OLD_ACT_ID) &&
         (s->old_activity_id.len < 1 || s->old_activity_id.len > X400I_ACT_ID_MAX)))
        return LERR(d, X400_ERR_TOO_LONG, "encode %s: activity identifier must be 1..6 octets", nm);
    if (((s->present & X400I_SP_SERIAL) && s->serial > X400I_SERIAL_MAX) ||
        ((s->present & X400I_SP_LINK_SERIAL) && s->link_serial > X400I_SERIAL_MAX) ||
        ((s->present & X400I_SP_ISN) && s->isn > X400I_SERIAL_MAX) ||
        ((s->present & X400I_SP_ISN2) && s->isn2 > X400I_SERIAL_MAX))
        return LERR(d, X400_ERR_TOO_LONG, "encode %s: serial number above 999999", nm);
    if ((s->present & X400I_SP_REFLECT) && s->reflect.len > 9)
        return LERR(d, X400_ERR_TOO_LONG, "encode %s: reflect parameter longer than 9 octets", nm);
    if ((s->present & X400I_SP_ENCLOSURE) && s->enclosure != 3)
        return LERR(d, X400_ERR_UNSUPPORTED, "encode %s: segmentation not supported", nm);
    if ((s->present & X400I_SP_TOKEN_ITEM) && (s->token_item & ~X400I_TOKEN_ALL))
        return LERR(d, X400_ERR_INVALID_ARG, "encode %s: token item 0x%02x", nm, s->token_item);
    if ((s->present & X400I_SP_USER_DATA) && s->type == X400I_SPDU_RF &&
        (!(s->present & X400I_SP_REASON) || s->reason != 2))
        return LERR(d, X400_ERR_INVALID_ARG, "encode RF: user data needs reason code 2");
    if ((s->present & X400I_SP_USER_DATA) && s->type == X400I_SPDU_CN && s->user_data.len > 10240)
        return LERR(d, X400_ERR_TOO_LONG, "encode CN: %zu octets of user data exceed 10240 "
                    "(CONNECT DATA OVERFLOW is not supported)", s->user_data.len);
    return 0;
}

int x400i_spdu_encode(x400i_buf *out, const x400i_spdu *s, x400_diag *d)
{
    wr w = { NULL, 0 };
    size_t plen, total, start;
    int rc;
    if (!out || !s) return LERR(d, X400_ERR_INVALID_ARG, "encode: NULL argument");
    if ((rc = check_encode(s, d))) return rc;
    w_params(&w, s);
    plen = w.n;
    if (plen > 65535)
        return LERR(d, X400_ERR_TOO_LONG, "encode %s: parameter field of %zu octets exceeds 65535",
                    x400i_spdu_name(s->type), plen);
    total = 1 + li_size(plen) + plen;
    if (s->type == X400I_SPDU_DT && (s->present & X400I_SP_USER_DATA)) total += s->user_data.len;
    if ((rc = x400i_buf_reserve(out, total)))
        return LERR(d, rc, "encode %s: output buffer: %s", x400i_spdu_name(s->type), x400_strerror(rc));
    start = out->len;
    w.p = out->p + start;
    w.n = 0;
    w_u8(&w, spdu_tab[s->type].si);
    w_li(&w, plen);
    w_params(&w, s);
    if (s->type == X400I_SPDU_DT && (s->present & X400I_SP_USER_DATA))
        w_bytes(&w, s->user_data.p, s->user_data.len);
    if (w.n != total)
        return LERR(d, X400_ERR_INTERNAL, "encode %s: size mismatch %zu/%zu", x400i_spdu_name(s->type),
                    w.n, total);
    out->len += total;
    return 0;
}

int x400i_spdu_encode_tsdu(x400i_buf *out, const x400i_spdu *s, x400_diag *d)
{
    int rc;
    size_t mark;
    if (!out || !s) return LERR(d, X400_ERR_INVALID_ARG, "encode: NULL argument");
    mark = out->len;
    if (x400i_spdu_category(s->type) == 2) {
        /* Basic concatenation (X.225 6.3.7): the table's category 0 SPDU
         * first, GT or PT, without parameters: it only carries. */
        const uint8_t carrier[2] = { spdu_tab[spdu_tab[s->type].carrier].si, 0 };
        if ((rc = x400i_buf_append(out, carrier, 2)))
            return LERR(d, rc, "encode %s: output buffer: %s", x400i_spdu_name(s->type), x400_strerror(rc));
    }
    if ((rc = x400i_spdu_encode(out, s, d))) {
        out->len = mark;
        return rc;
    }
    return 0;
}
