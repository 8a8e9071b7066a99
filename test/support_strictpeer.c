/* The strict X.225 test peer (see support_strictpeer.h).  Its tables are
 * its own, from X.225 clause 8.3 and 6.3.7, not lib/spdu.c's. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support_strictpeer.h"

/* ---- the tables -------------------------------------------------------- */

/* Top-level parameter codes (PI and PGI units) that may appear. */
enum { P_CONN_ID = 1, P_CA = 5, P_SYNC = 15, P_TOKEN = 16, P_TDISC = 17, P_REQ = 20, P_VERSION = 22,
       P_PREPARE = 24, P_ENCL = 25, P_TSET = 26, P_RESYNC = 27, P_LINK = 33, P_ACTID = 41,
       P_SERIAL = 42, P_REFLECT = 49, P_REASON = 50, P_CALLING_SSEL = 51, P_CALLED_SSEL = 52,
       P_OVERFLOW = 60, P_UD = 193, P_XUD = 194 };

#define MAXP 12
typedef struct sp_row {
    const char *name;
    uint8_t si;
    uint8_t cat;                 /* 0, 1, 2 */
    uint8_t top[MAXP];           /* allowed top-level codes, 0-terminated */
    uint8_t mand[4];             /* mandatory top-level codes */
    uint8_t conn_id[4];          /* PIs allowed inside PGI 1 */
    int user_info;               /* the rest of the TSDU is user information */
} sp_row;

/* X.225 8.3, one row per SPDU.  193/194 are written 0xC1/0xC2. */
static const sp_row rows[] = {
    { "CN", 13, 1, { 1, 5, 20, 51, 52, 60, 0xC1, 0xC2 }, { 0 }, { 10, 11, 12 }, 0 },      /* 8.3.1 */
    { "OA", 16, 1, { 21, 22 }, { 0 }, { 0 }, 0 },                                          /* 8.3.2 */
    { "CDO", 15, 1, { 25, 0xC1 }, { 0 }, { 0 }, 0 },                                       /* 8.3.3 */
    { "AC", 14, 1, { 1, 5, 16, 20, 25, 51, 52, 0xC1 }, { 0 }, { 9, 11, 12 }, 0 },          /* 8.3.4 */
    { "RF", 12, 1, { 1, 17, 20, 22, 25, 50 }, { 50 }, { 9, 11, 12 }, 0 },                  /* 8.3.5 */
    { "FN", 9, 1, { 17, 25, 0xC1 }, { 0 }, { 0 }, 0 },                                     /* 8.3.6 */
    { "DN", 10, 1, { 25, 0xC1 }, { 0 }, { 0 }, 0 },                                        /* 8.3.7 */
    { "NF", 8, 1, { 25, 0xC1 }, { 0 }, { 0 }, 0 },                                         /* 8.3.8 */
    { "AB", 25, 1, { 17, 25, 49, 0xC1 }, { 17 }, { 0 }, 0 },   /* 8.3.9; PI 17 as ISODE demands */
    { "AA", 26, 1, { 0 }, { 0 }, { 0 }, 0 },                                               /* 8.3.10 */
    { "TD", 33, 1, { 25 }, { 0 }, { 0 }, 1 },                                              /* 8.3.12 */
    { "GTC", 21, 1, { 0 }, { 0 }, { 0 }, 0 },
    { "GTA", 22, 1, { 0 }, { 0 }, { 0 }, 0 },
    { "PR", 7, 1, { 24 }, { 24 }, { 0 }, 0 },
    { "GT", 1, 0, { 16, 25, 0xC1 }, { 0 }, { 0 }, 0 },                                     /* 8.3.14 */
    { "PT", 2, 0, { 16, 25, 0xC1 }, { 0 }, { 0 }, 0 },                                     /* 8.3.15 */
    { "DT", 1, 2, { 25 }, { 0 }, { 0 }, 1 },                                               /* 8.3.11 */
    { "CD", 61, 2, { 25, 0xC1 }, { 0 }, { 0 }, 0 },
    { "CDA", 62, 2, { 25, 0xC1 }, { 0 }, { 0 }, 0 },
    { "MIP", 49, 2, { 15, 42, 25, 0xC1 }, { 42 }, { 0 }, 0 },
    { "MIA", 50, 2, { 42, 25, 0xC1 }, { 42 }, { 0 }, 0 },
    { "MAP/AE", 41, 2, { 15, 42, 25, 0xC1 }, { 42 }, { 0 }, 0 },
    { "MAA/AEA", 42, 2, { 42, 25, 0xC1 }, { 42 }, { 0 }, 0 },
    { "RS", 53, 2, { 26, 27, 42, 25, 0xC1 }, { 27, 42 }, { 0 }, 0 },
    { "RA", 34, 2, { 26, 42, 25, 0xC1 }, { 42 }, { 0 }, 0 },
    { "AS", 45, 2, { 41, 25, 0xC1 }, { 41 }, { 0 }, 0 },
    { "AR", 29, 2, { 33, 41, 25, 0xC1 }, { 33, 41 }, { 0 }, 0 },
    { "AI", 25, 2, { 50 }, { 0 }, { 0 }, 0 },
    { "AIA", 26, 2, { 0 }, { 0 }, { 0 }, 0 },
    { "AD", 57, 2, { 50 }, { 0 }, { 0 }, 0 },
    { "ADA", 58, 2, { 0 }, { 0 }, { 0 }, 0 },
    { "ER", 0, 2, { 49 }, { 0 }, { 0 }, 0 },
    { "ED", 48, 2, { 50, 25, 0xC1 }, { 50 }, { 0 }, 0 },
};
#define NROWS (sizeof rows / sizeof rows[0])

/* X.225 6.3.7 basic concatenation: which category 2 SPDU may follow GT
 * (initiating ones) and PT (acknowledging ones), by SI. */
static const uint8_t after_gt[] = { 1, 49, 41, 53, 45, 29, 57, 25, 61 };
static const uint8_t after_pt[] = { 50, 42, 34, 58, 26, 62, 0, 48 };

/* Connect/Accept Item (PGI 5) and Linking Information (PGI 33) contents. */
static const uint8_t ca_pis[] = { 19, 21, 22, 23, 26, 55, 56, 57, 58 };
static const uint8_t link_pis[] = { 9, 10, 11, 12, 41, 42 };

static int in(const uint8_t *set, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == v) return 1;
    return 0;
}
/* In a 0-terminated list (code 0 is no parameter). */
static int in_list(const uint8_t *l, size_t max, uint8_t v)
{
    for (size_t i = 0; i < max && l[i]; i++)
        if (l[i] == v) return 1;
    return 0;
}

static size_t list_len(const uint8_t *l, size_t max)
{
    size_t n = 0;
    while (n < max && l[n]) n++;
    return n;
}

static const sp_row *row_of(uint8_t si, int cat_wanted)
{
    for (size_t i = 0; i < NROWS; i++)
        if (rows[i].si == si && (cat_wanted < 0 ? rows[i].cat != 2 : rows[i].cat == cat_wanted))
            return &rows[i];
    return NULL;
}

/* ---- parsing ----------------------------------------------------------- */

typedef struct ctx {
    char *err;
    size_t errlen;
    int version;          /* 0 unknown, 1, 2 */
    /* what the check found, for the stateful layer */
    int cn_version, ac_version, cn_xud;
} ctx;

static int fail(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* LI (X.225 8.2.5): 1 octet up to 254, else 0xFF + 2 octets >= 255. */
static int get_li(ctx *c, const uint8_t *p, size_t n, size_t *off, size_t *li, const char *what)
{
    if (*off >= n) return fail(c, "%s: length indicator missing", what);
    if (p[*off] != 0xFF) {
        *li = p[(*off)++];
        return 0;
    }
    if (*off + 3 > n) return fail(c, "%s: three-octet length indicator truncated", what);
    *li = (size_t)p[*off + 1] << 8 | p[*off + 2];
    *off += 3;
    if (*li < 255) return fail(c, "%s: three-octet length indicator for %zu", what, *li);
    return 0;
}

static int digits_ok(const uint8_t *v, size_t n, size_t max)
{
    if (n < 1 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9') return 0;
    return 1;
}

/* Value check of one PI (X.225 8.3 codings). */
static int check_value(ctx *c, const char *spdu, uint8_t code, const uint8_t *v, size_t n,
                       const char *where)
{
    switch (code) {
    case 9: case 10: case 11:
        if (n > 64) return fail(c, "%s: PI %u%s longer than 64 octets", spdu, code, where);
        return 0;
    case 12:
        if (n > 4) return fail(c, "%s: PI 12%s longer than 4 octets", spdu, where);
        return 0;
    case 15: case 17: case 19: case 24: case 25: case 26: case 27: case 56: case 60:
        if (n != 1) return fail(c, "%s: PI %u%s has length %zu, not 1", spdu, code, where, n);
        if (code == 25 && c->version == 1)
            return fail(c, "%s: Enclosure Item in protocol version 1", spdu);
        return 0;
    case 16:
        if (n != 1) return fail(c, "%s: Token Item has length %zu, not 1", spdu, n);
        if (v[0] & 0xAA) return fail(c, "%s: Token Item 0x%02x sets reserved bits", spdu, v[0]);
        return 0;
    case 20:
        if (n != 2) return fail(c, "%s: Session User Requirements has length %zu, not 2", spdu, n);
        return 0;
    case 21:
        if (n != 4) return fail(c, "%s: TSDU Maximum Size has length %zu, not 4", spdu, n);
        return 0;
    case 22:
        if (n != 1) return fail(c, "%s: Version Number has length %zu, not 1", spdu, n);
        if (!(v[0] & 3) || (v[0] & ~3)) return fail(c, "%s: Version Number 0x%02x", spdu, v[0]);
        return 0;
    case 23: case 42: case 55:
        if (!digits_ok(v, n, 6)) return fail(c, "%s: PI %u%s is not 1..6 decimal digits", spdu, code, where);
        return 0;
    case 57: case 58:
        if (!digits_ok(v, n, 64)) return fail(c, "%s: PI %u is not decimal digits", spdu, code);
        return 0;
    case 41:
        if (n < 1 || n > 6) return fail(c, "%s: Activity Identifier%s of %zu octets", spdu, where, n);
        return 0;
    case 49:
        if (n > 9) return fail(c, "%s: Reflect Parameter Values of %zu octets", spdu, n);
        return 0;
    case 50:
        if (n < 1) return fail(c, "%s: empty Reason Code", spdu);
        if (n > 1 && strcmp(spdu, "RF") != 0) return fail(c, "%s: Reason Code of %zu octets", spdu, n);
        if (n > 1 && v[0] != 2) return fail(c, "RF: reason %u with user data (only reason 2 has it)", v[0]);
        if (n - 1 > 512) return fail(c, "RF: %zu octets of refusal user data", n - 1);
        return 0;
    case 51: case 52:
        if (n > 16) return fail(c, "%s: session selector of %zu octets", spdu, n);
        return 0;
    default:
        return 0;
    }
}

/* The PIs of a group (PGI 1, 5, 33). */
static int check_group(ctx *c, const char *spdu, uint8_t pgi, const uint8_t *allowed, size_t nallowed,
                       const uint8_t *p, size_t n)
{
    size_t off = 0;
    uint8_t seen[256] = { 0 };
    char where[48];
    snprintf(where, sizeof where, " inside PGI %u", pgi);
    while (off < n) {
        uint8_t code = p[off++];
        size_t li;
        char what[64];
        snprintf(what, sizeof what, "%s: PI %u%s", spdu, code, where);
        if (get_li(c, p, n, &off, &li, what)) return -1;
        if (li > n - off) return fail(c, "%s: runs past the end of its group", what);
        if (!in(allowed, nallowed, code))
            return fail(c, "%s: PI %u is not allowed in PGI %u of %s (X.225 8.3)", spdu, code, pgi, spdu);
        if (seen[code]++) return fail(c, "%s: PI %u duplicated in PGI %u", spdu, code, pgi);
        if (check_value(c, spdu, code, p + off, li, where)) return -1;
        if (code == 22 && pgi == 5) {
            if (!strcmp(spdu, "CN")) c->cn_version = p[off];
            else c->ac_version = p[off];
        }
        off += li;
    }
    if (pgi == 33 && (!seen[41] || !seen[42]))
        return fail(c, "%s: Linking Information without old Activity Identifier or Serial Number", spdu);
    return 0;
}

/* The parameter field of one SPDU. */
static int check_params(ctx *c, const sp_row *r, const uint8_t *p, size_t n)
{
    size_t off = 0;
    uint8_t seen[256] = { 0 };
    while (off < n) {
        uint8_t code = p[off++];
        size_t li;
        char what[48];
        snprintf(what, sizeof what, "%s: parameter %u", r->name, code);
        if (get_li(c, p, n, &off, &li, what)) return -1;
        if (li > n - off) return fail(c, "%s: runs past the end of the SPDU", what);
        if (!in_list(r->top, MAXP, code))
            return fail(c, "%s: parameter %u is not allowed in %s (X.225 8.3)", r->name, code, r->name);
        if (seen[code]++) return fail(c, "%s: parameter %u duplicated", r->name, code);
        switch (code) {
        case P_CONN_ID:
            if (check_group(c, r->name, 1, r->conn_id, list_len(r->conn_id, sizeof r->conn_id), p + off, li))
                return -1;
            break;
        case P_CA:
            if (check_group(c, r->name, 5, ca_pis, sizeof ca_pis, p + off, li)) return -1;
            break;
        case P_LINK:
            if (check_group(c, r->name, 33, link_pis, sizeof link_pis, p + off, li)) return -1;
            break;
        case 0xC1:
            if (li > 512)
                return fail(c, "%s: User Data (PGI 193) of %zu octets: ISODE refuses more than 512 "
                            "(tsdu2spkt)", r->name, li);
            /* (512 is also version 1's bound for every SPDU but DT, X.225 8.3) */
            if (c->version == 1 && r->si == 25 && r->cat == 1 && li > 9)
                return fail(c, "AB: %zu octets of user data in protocol version 1 (at most 9)", li);
            break;
        case 0xC2:
            if (li <= 512 || li > 10240)
                return fail(c, "%s: Extended User Data (PGI 194) of %zu octets (513..10240)", r->name, li);
            c->cn_xud = 1;
            break;
        default:
            if (check_value(c, r->name, code, p + off, li, "")) return -1;
            break;
        }
        off += li;
    }
    if (seen[0xC1] && seen[0xC2]) return fail(c, "%s: both User Data and Extended User Data", r->name);
    for (size_t i = 0; i < sizeof r->mand && r->mand[i]; i++)
        if (!seen[r->mand[i]])
            return fail(c, "%s: mandatory parameter %u missing", r->name, r->mand[i]);
    return 0;
}

/* One SPDU at p[*off]: its row by position, its parameters.  *user_info
 * receives whether the rest of the TSDU is its user information. */
static int check_spdu(ctx *c, const sp_row *r, const uint8_t *p, size_t n, size_t *off)
{
    size_t li;
    char what[32];
    snprintf(what, sizeof what, "%s SPDU", r->name);
    (*off)++;
    if (get_li(c, p, n, off, &li, what)) return -1;
    if (li > n - *off) return fail(c, "%s: length indicator %zu runs past the TSDU", what, li);
    if (check_params(c, r, p + *off, li)) return -1;
    *off += li;
    if (r->user_info) *off = n;
    return 0;
}

static int check_one(ctx *c, const uint8_t *p, size_t n, int from_initiator, int *first_si)
{
    size_t off = 0;
    const sp_row *r0, *r1;
    if (n == 0) return fail(c, "empty TSDU");
    r0 = row_of(p[0], -1);
    if (!r0) {
        r1 = row_of(p[0], 2);
        if (r1) return fail(c, "%s SPDU (SI %u) without a category 0 SPDU in front (X.225 6.3.7)",
                            r1->name, p[0]);
        return fail(c, "unknown SPDU identifier %u", p[0]);
    }
    *first_si = p[0];
    if (r0->si == 13 && !from_initiator) return fail(c, "CN sent by the responder");
    if ((r0->si == 14 || r0->si == 12) && from_initiator) return fail(c, "%s sent by the initiator", r0->name);
    if (check_spdu(c, r0, p, n, &off)) return -1;
    if (off == n) return 0;
    if (r0->cat != 0)
        return fail(c, "%s (category 1) followed by %zu octets: not expecting user information after "
                    "it (ISODE)", r0->name, n - off);
    if (!in(r0->si == 1 ? after_gt : after_pt, r0->si == 1 ? sizeof after_gt : sizeof after_pt, p[off])) {
        const sp_row *x = row_of(p[off], 2);
        return fail(c, "%s (SI %u) concatenated after %s: X.225 6.3.7 does not pair them (ISODE: "
                    "\"not expecting 0x%x to be concatenated after 0x%x\")",
                    x ? x->name : "SPDU", p[off], r0->name, p[off], r0->si);
    }
    r1 = row_of(p[off], 2);
    if (check_spdu(c, r1, p, n, &off)) return -1;
    if (off != n)
        return fail(c, "%s followed by %zu octets: not expecting user information after it", r1->name,
                    n - off);
    return 0;
}

int x400t_strict_tsdu(const uint8_t *p, size_t n, int from_initiator, char *err, size_t errlen)
{
    ctx c;
    int si;
    char dummy[8];
    memset(&c, 0, sizeof c);
    c.err = err ? err : dummy;
    c.errlen = err ? errlen : sizeof dummy;
    if (c.errlen) c.err[0] = 0;
    return check_one(&c, p, n, from_initiator, &si);
}

/* ---- conversation state ------------------------------------------------ */

void x400t_strict_init(x400t_strict *st) { memset(st, 0, sizeof *st); }

void x400t_strict_free(x400t_strict *st)
{
    free(st->dt[0]);
    free(st->dt[1]);
    memset(st, 0, sizeof *st);
}

int x400t_strict_check(x400t_strict *st, int from_initiator, const uint8_t *p, size_t n)
{
    ctx c;
    int si = -1;
    char msg[400];
    memset(&c, 0, sizeof c);
    c.err = msg;
    c.errlen = sizeof msg;
    c.version = st->version;
    st->tsdus++;
    if (from_initiator && !st->cn_seen && (n == 0 || p[0] != 13)) {
        snprintf(st->err, sizeof st->err, "TSDU %zu: the initiator's first TSDU is not a CN", st->tsdus);
        return -1;
    }
    if (check_one(&c, p, n, from_initiator, &si)) {
        snprintf(st->err, sizeof st->err, "TSDU %zu from the %s: %s", st->tsdus,
                 from_initiator ? "initiator" : "responder", msg);
        return -1;
    }
    if (si == 13) {
        st->cn_seen = 1;
        st->offered = c.cn_version ? c.cn_version : 1;
        if (c.cn_xud && (st->offered & 1)) {
            snprintf(st->err, sizeof st->err, "CN proposes version 1 with more than 512 octets of user data");
            return -1;
        }
    } else if (si == 14) {
        int v = c.ac_version ? c.ac_version : 1;
        if (v != 1 && v != 2) {
            snprintf(st->err, sizeof st->err, "AC selects Version Number 0x%02x, not exactly one", v);
            return -1;
        }
        if (st->offered && !(v & st->offered)) {
            snprintf(st->err, sizeof st->err, "AC selects version %d, the CN offered 0x%02x", v, st->offered);
            return -1;
        }
        st->version = v;
    }
    return 0;
}

int x400t_strict_tpkt(x400t_strict *st, int from_initiator, const uint8_t *p, size_t n)
{
    int k = from_initiator ? 1 : 0;
    size_t li, len;
    if (n < 7 || p[0] != 3) {
        snprintf(st->err, sizeof st->err, "not a TPKT (%zu octets)", n);
        return -1;
    }
    len = (size_t)p[2] << 8 | p[3];
    li = p[4];
    if (len != n || li + 5 > n) {
        snprintf(st->err, sizeof st->err, "TPKT length %zu / LI %zu do not fit %zu octets", len, li, n);
        return -1;
    }
    if ((p[5] & 0xF0) != 0xF0) return 0; /* CR, CC, DR, ER: no SPDU */
    len = n - 5 - li;
    if (st->dt_len[k] + len > st->dt_cap[k]) {
        size_t cap = (st->dt_len[k] + len) * 2 + 64;
        uint8_t *b = realloc(st->dt[k], cap);
        if (!b) {
            snprintf(st->err, sizeof st->err, "out of memory");
            return -1;
        }
        st->dt[k] = b;
        st->dt_cap[k] = cap;
    }
    if (len) memcpy(st->dt[k] + st->dt_len[k], p + 5 + li, len);
    st->dt_len[k] += len;
    if (!(p[6] & 0x80)) return 0; /* not the end of the TSDU */
    len = st->dt_len[k];
    st->dt_len[k] = 0;
    return x400t_strict_check(st, from_initiator, st->dt[k], len);
}

int x400t_strict_wire(x400t_strict *st, const x400t_wire *w)
{
    for (; st->next_rec < w->n; st->next_rec++) {
        const struct x400t_wire_rec *r = &w->rec[st->next_rec];
        if (x400t_strict_tpkt(st, r->from_initiator, r->p, r->len)) return -1;
    }
    return 0;
}
