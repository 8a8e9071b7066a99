/* X.225 SPDU codec: round trips of every SPDU with all its parameters, the
 * CN/AC of a real MTA pair, and every class of bad input. */
#include <string.h>

#include "interop.h"
#include "spdu.h"
#include "support_strictpeer.h"
#include "x400t.h"

static const uint8_t ref_calling[] = { 'M', 'T', 'A', 'X' };
static const uint8_t ref_called[] = { 'P', 'E', 'E', 'R', '1' };
static const uint8_t ref_common[] = "250101120000Z";
static const uint8_t ref_add[] = { 1, 2, 3, 4 };
static const uint8_t ssel1[] = { 0x00, 0x01 };
static const uint8_t ssel2[] = { 'S', 'S', 'E', 'L' };
static const uint8_t ud[] = { 0x31, 0x80, 0xa0, 0x03, 0x80, 0x01, 0x01, 0x00, 0x00 };
static const uint8_t actid[] = { 0x02, 0x01, 0x07 };
static const uint8_t oldact[] = { 0x02, 0x01, 0x06 };
static const uint8_t bigisn[] = "1234567890123";

static x400i_view V(const void *p, size_t n) { x400i_view v = { (const uint8_t *)p, n }; return v; }

/* Fill every parameter the type allows, with distinctive values. */
static void fill_all(x400i_spdu *s, x400i_spdu_type t)
{
    uint32_t a = x400i_spdu_allowed(t);
    memset(s, 0, sizeof *s);
    s->type = t;
    s->present = a;
    s->called_ref = V(ref_called, sizeof ref_called);
    s->calling_ref = V(ref_calling, sizeof ref_calling);
    s->common_ref = V(ref_common, 13);
    s->add_ref = V(ref_add, sizeof ref_add);
    s->protocol_options = 0;
    s->tsdu_max_i2r = 2048;
    s->tsdu_max_r2i = 65535;
    s->version = 3;
    s->isn = 17;
    s->token_setting = 0x1b;
    s->isn2 = 999999;
    s->upper_limit = 6;
    s->large_isn = V(bigisn, 13);
    s->large_isn2 = V(bigisn, 5);
    s->requirements = 0x0249;
    s->calling_ssel = V(ssel1, sizeof ssel1);
    s->called_ssel = V(ssel2, sizeof ssel2);
    s->sync_type = X400I_SYNC_NOEXPL;
    s->token_item = X400I_TOKEN_DATA | X400I_TOKEN_MAJOR;
    s->tdisc = X400I_TDISC_RELEASED | X400I_TDISC_USER_ABORT;
    s->enclosure = 3;
    s->activity_id = V(actid, sizeof actid);
    s->serial = 4711;
    s->old_activity_id = V(oldact, sizeof oldact);
    s->link_serial = 12;
    s->reflect = V(ref_add, 3);
    s->reason = (t == X400I_SPDU_RF) ? 2 : 5;
    s->data_overflow = 1;
    s->user_data = V(ud, sizeof ud);
    if (t == X400I_SPDU_AE) s->present &= ~(uint32_t)X400I_SP_SYNC_TYPE; /* AE: no "not end" item */
}

static void assert_view(x400i_view a, x400i_view b)
{
    ck_assert_uint_eq(a.len, b.len);
    if (a.len) ck_assert_mem_eq(a.p, b.p, a.len);
}

static void assert_same(const x400i_spdu *a, const x400i_spdu *b)
{
    uint32_t pr = a->present;
    ck_assert_uint_eq(a->present, b->present);
    if (pr & X400I_SP_CALLED_REF) assert_view(a->called_ref, b->called_ref);
    if (pr & X400I_SP_CALLING_REF) assert_view(a->calling_ref, b->calling_ref);
    if (pr & X400I_SP_COMMON_REF) assert_view(a->common_ref, b->common_ref);
    if (pr & X400I_SP_ADD_REF) assert_view(a->add_ref, b->add_ref);
    if (pr & X400I_SP_PROTO_OPT) ck_assert_uint_eq(a->protocol_options, b->protocol_options);
    if (pr & X400I_SP_TSDU_MAX) {
        ck_assert_uint_eq(a->tsdu_max_i2r, b->tsdu_max_i2r);
        ck_assert_uint_eq(a->tsdu_max_r2i, b->tsdu_max_r2i);
    }
    if (pr & X400I_SP_VERSION) ck_assert_uint_eq(a->version, b->version);
    if (pr & X400I_SP_ISN) ck_assert_uint_eq(a->isn, b->isn);
    if (pr & X400I_SP_TOKEN_SET) ck_assert_uint_eq(a->token_setting, b->token_setting);
    if (pr & X400I_SP_ISN2) ck_assert_uint_eq(a->isn2, b->isn2);
    if (pr & X400I_SP_UPPER_LIMIT) ck_assert_uint_eq(a->upper_limit, b->upper_limit);
    if (pr & X400I_SP_LARGE_ISN) assert_view(a->large_isn, b->large_isn);
    if (pr & X400I_SP_LARGE_ISN2) assert_view(a->large_isn2, b->large_isn2);
    if (pr & X400I_SP_REQUIREMENTS) ck_assert_uint_eq(a->requirements, b->requirements);
    if (pr & X400I_SP_CALLING_SSEL) assert_view(a->calling_ssel, b->calling_ssel);
    if (pr & X400I_SP_CALLED_SSEL) assert_view(a->called_ssel, b->called_ssel);
    if (pr & X400I_SP_SYNC_TYPE) ck_assert_uint_eq(a->sync_type, b->sync_type);
    if (pr & X400I_SP_TOKEN_ITEM) ck_assert_uint_eq(a->token_item, b->token_item);
    if (pr & X400I_SP_TDISC) ck_assert_uint_eq(a->tdisc, b->tdisc);
    if (pr & X400I_SP_ENCLOSURE) ck_assert_uint_eq(a->enclosure, b->enclosure);
    if (pr & X400I_SP_ACT_ID) assert_view(a->activity_id, b->activity_id);
    if (pr & X400I_SP_SERIAL) ck_assert_uint_eq(a->serial, b->serial);
    if (pr & X400I_SP_OLD_ACT_ID) assert_view(a->old_activity_id, b->old_activity_id);
    if (pr & X400I_SP_LINK_SERIAL) ck_assert_uint_eq(a->link_serial, b->link_serial);
    if (pr & X400I_SP_REFLECT) assert_view(a->reflect, b->reflect);
    if (pr & X400I_SP_REASON) ck_assert_uint_eq(a->reason, b->reason);
    if (pr & X400I_SP_OVERFLOW) ck_assert_uint_eq(a->data_overflow, b->data_overflow);
    if (pr & X400I_SP_USER_DATA) assert_view(a->user_data, b->user_data);
}

/* Every SPDU type with every parameter it allows survives encode+decode;
 * the TSDU form puts category 2 SPDUs after an empty GT. */
START_TEST(round_trip_all_types)
{
    for (int t = 0; t < X400I_SPDU_TYPE_COUNT; t++) {
        x400i_spdu in, out[2];
        x400i_buf b;
        x400_diag d;
        int n, cat = x400i_spdu_category((x400i_spdu_type)t);
        unsigned flags = (t == X400I_SPDU_AE) ? X400I_SPDU_DEC_ACTIVITY : 0;
        x400i_spdu_type expect = (t == X400I_SPDU_AEA) ? X400I_SPDU_MAA : (x400i_spdu_type)t;
        fill_all(&in, (x400i_spdu_type)t);
        x400i_buf_init(&b, NULL, 0);
        ck_assert_msg(x400i_spdu_encode_tsdu(&b, &in, &d) == 0, "%s: %s", x400i_spdu_name(in.type), d.text);
        if (cat == 2) { /* the carrier X.225 6.3.7 pairs it with, empty */
            ck_assert_uint_eq(b.p[0], x400i_spdu_si((x400i_spdu_type)x400i_spdu_carrier(in.type)));
            ck_assert_uint_eq(b.p[1], 0);
        }
        n = x400i_spdu_decode_tsdu(b.p, b.len, flags, out, &d);
        ck_assert_msg(n == (cat == 2 ? 2 : 1), "%s: decode gave %d: %s", x400i_spdu_name(in.type), n, d.text);
        if (cat == 2) {
            ck_assert_int_eq(out[0].type, x400i_spdu_carrier(in.type));
            ck_assert_uint_eq(out[0].present, 0);
        }
        ck_assert_msg(out[n - 1].type == expect, "%s decoded as %s", x400i_spdu_name(in.type),
                      x400i_spdu_name(out[n - 1].type));
        assert_same(&in, &out[n - 1]);
        x400i_buf_free(&b);
    }
}
END_TEST

/* Each type also round-trips with no optional parameter at all. */
START_TEST(round_trip_minimal)
{
    for (int t = 0; t < X400I_SPDU_TYPE_COUNT; t++) {
        x400i_spdu in, out[2];
        x400i_buf b;
        x400_diag d;
        int n;
        fill_all(&in, (x400i_spdu_type)t);
        in.present &= x400i_spdu_mandatory((x400i_spdu_type)t);
        if (t == X400I_SPDU_MAP) { in.present |= X400I_SP_SYNC_TYPE; in.sync_type = X400I_SYNC_NOEXPL; }
        x400i_buf_init(&b, NULL, 0);
        ck_assert_msg(x400i_spdu_encode_tsdu(&b, &in, &d) == 0, "%s: %s", x400i_spdu_name(in.type), d.text);
        n = x400i_spdu_decode_tsdu(b.p, b.len, X400I_SPDU_DEC_ACTIVITY, out, &d);
        ck_assert_msg(n >= 1, "%s: %s", x400i_spdu_name(in.type), d.text);
        if (t == X400I_SPDU_DT) ck_assert_uint_eq(out[1].user_data.len, 0);
        else assert_same(&in, &out[n - 1]);
        x400i_buf_free(&b);
    }
}
END_TEST

/* The CN of a production MTA (structure from a capture): Connection
 * Identifier (calling SS-user reference = short name, common reference =
 * UTCTime), Connect/Accept Item (options 0, version 2, token setting 0),
 * requirements 0x0249, no selectors, user data = indefinite-length CP. */
static const uint8_t real_cp[] = { 0x31, 0x80, 0xa0, 0x03, 0x80, 0x01, 0x01, 0xa2, 0x80, 0x81, 0x04,
                                   0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t real_cn[] = {
    0x0d, 0x3b,
    0x01, 0x15, 0x0a, 0x04, 'M', 'T', 'A', 'X',
    0x0b, 0x0d, '2', '5', '0', '1', '0', '1', '1', '2', '0', '0', '0', '0', 'Z',
    0x05, 0x09, 0x13, 0x01, 0x00, 0x16, 0x01, 0x02, 0x1a, 0x01, 0x00,
    0x14, 0x02, 0x02, 0x49,
    0xc1, 0x13, 0x31, 0x80, 0xa0, 0x03, 0x80, 0x01, 0x01, 0xa2, 0x80, 0x81, 0x04,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 };
/* Its AC: references echoed, same requirements, EMPTY responding session
 * selector (PI 52, length 0). */
static const uint8_t real_ac[] = {
    0x0e, 0x3a,
    0x01, 0x15, 0x0a, 0x04, 'M', 'T', 'A', 'X',
    0x0b, 0x0d, '2', '5', '0', '1', '0', '1', '1', '2', '0', '0', '0', '0', 'Z',
    0x05, 0x06, 0x13, 0x01, 0x00, 0x16, 0x01, 0x02,
    0x14, 0x02, 0x02, 0x49,
    0x34, 0x00,
    0xc1, 0x13, 0x31, 0x80, 0xa0, 0x03, 0x80, 0x01, 0x01, 0xa2, 0x80, 0x81, 0x04,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 };

START_TEST(real_mta_cn_ac)
{
    x400i_spdu s[2];
    x400_diag d;
    ck_assert_int_eq(sizeof real_cn - 2, real_cn[1]);
    ck_assert_int_eq(sizeof real_ac - 2, real_ac[1]);
    ck_assert_msg(x400i_spdu_decode_tsdu(real_cn, sizeof real_cn, 0, s, &d) == 1, "%s", d.text);
    ck_assert_int_eq(s[0].type, X400I_SPDU_CN);
    ck_assert_uint_eq(s[0].present, X400I_SP_CONN_ID | X400I_SP_CALLING_REF | X400I_SP_COMMON_REF |
                      X400I_SP_CA_ITEM | X400I_SP_PROTO_OPT | X400I_SP_VERSION | X400I_SP_TOKEN_SET |
                      X400I_SP_REQUIREMENTS | X400I_SP_USER_DATA);
    ck_assert_mem_eq(s[0].calling_ref.p, "MTAX", 4);
    ck_assert_mem_eq(s[0].common_ref.p, "250101120000Z", 13);
    ck_assert_uint_eq(s[0].version, 2);
    ck_assert_uint_eq(s[0].token_setting, 0);
    ck_assert_uint_eq(s[0].requirements, 0x0249);
    /* user data handed up untouched: a view into the TSDU itself */
    ck_assert_ptr_eq(s[0].user_data.p, real_cn + sizeof real_cn - sizeof real_cp);
    ck_assert_uint_eq(s[0].user_data.len, sizeof real_cp);

    ck_assert_msg(x400i_spdu_decode_tsdu(real_ac, sizeof real_ac, 0, s, &d) == 1, "%s", d.text);
    ck_assert_int_eq(s[0].type, X400I_SPDU_AC);
    ck_assert(s[0].present & X400I_SP_CALLED_SSEL);
    ck_assert_uint_eq(s[0].called_ssel.len, 0);
    ck_assert_uint_eq(s[0].requirements, 0x0249);
    ck_assert_mem_eq(s[0].user_data.p, real_cp, sizeof real_cp);
}
END_TEST

/* Our own encoder produces the real CN byte for byte from its fields. */
START_TEST(encode_matches_real_cn)
{
    x400i_spdu s;
    x400i_buf b;
    x400_diag d;
    memset(&s, 0, sizeof s);
    s.type = X400I_SPDU_CN;
    s.present = X400I_SP_CONN_ID | X400I_SP_CALLING_REF | X400I_SP_COMMON_REF | X400I_SP_CA_ITEM |
                X400I_SP_PROTO_OPT | X400I_SP_VERSION | X400I_SP_TOKEN_SET | X400I_SP_REQUIREMENTS |
                X400I_SP_USER_DATA;
    s.calling_ref = V("MTAX", 4);
    s.common_ref = V("250101120000Z", 13);
    s.version = 2;
    s.requirements = 0x0249;
    s.user_data = V(real_cp, sizeof real_cp);
    x400i_buf_init(&b, NULL, 0);
    ck_assert_int_eq(x400i_spdu_encode_tsdu(&b, &s, &d), 0);
    ck_assert_uint_eq(b.len, sizeof real_cn);
    ck_assert_mem_eq(b.p, real_cn, sizeof real_cn);
    x400i_buf_free(&b);
}
END_TEST

/* Long (three-octet) lengths: a DT with 70000 octets of data (unbounded
 * user information field) and an AS whose user data needs LI 0xFF. */
START_TEST(long_lengths)
{
    static uint8_t big[70000];
    x400i_spdu s, o[2];
    x400i_buf b;
    x400_diag d;
    memset(big, 0x5a, sizeof big);
    memset(&s, 0, sizeof s);
    s.type = X400I_SPDU_DT;
    s.present = X400I_SP_USER_DATA;
    s.user_data = V(big, sizeof big);
    x400i_buf_init(&b, NULL, 0);
    ck_assert_int_eq(x400i_spdu_encode_tsdu(&b, &s, &d), 0);
    ck_assert_uint_eq(b.len, 4 + sizeof big);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(b.p, b.len, 0, o, &d), 2);
    ck_assert_uint_eq(o[1].user_data.len, sizeof big);
    x400i_buf_reset(&b);
    s.type = X400I_SPDU_AS;
    s.present = X400I_SP_USER_DATA | X400I_SP_ACT_ID;
    s.activity_id = V(actid, 3);
    s.user_data = V(big, 300);
    ck_assert_int_eq(x400i_spdu_encode_tsdu(&b, &s, &d), 0);
    ck_assert_uint_eq(b.p[3], 0xFF);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(b.p, b.len, 0, o, &d), 2);
    ck_assert_uint_eq(o[1].user_data.len, 300);
    /* CN user data > 512 goes into Extended User Data (PGI 194) */
    x400i_buf_reset(&b);
    s.type = X400I_SPDU_CN;
    s.present = X400I_SP_USER_DATA;
    s.user_data = V(big, 600);
    ck_assert_int_eq(x400i_spdu_encode_tsdu(&b, &s, &d), 0);
    ck_assert_uint_eq(b.p[4], 194);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(b.p, b.len, 0, o, &d), 1);
    ck_assert_uint_eq(o[0].user_data.len, 600);
    /* ... and beyond 10240 it would need CDO: refused */
    s.user_data = V(big, 10241);
    ck_assert_int_eq(x400i_spdu_encode_tsdu(&b, &s, &d), X400_ERR_TOO_LONG);
    /* a parameter field beyond 65535 octets cannot be encoded */
    s.type = X400I_SPDU_AS;
    s.present = X400I_SP_USER_DATA | X400I_SP_ACT_ID;
    s.user_data = V(big, 65535);
    ck_assert_int_eq(x400i_spdu_encode_tsdu(&b, &s, &d), X400_ERR_TOO_LONG);
    x400i_buf_free(&b);
}
END_TEST

/* The ambiguous SI codes are resolved by position and functional units. */
START_TEST(shared_si_codes)
{
    x400i_spdu o[2];
    x400_diag d;
    static const uint8_t ab[] = { 25, 3, 17, 1, 0x0b };
    static const uint8_t ai[] = { 1, 0, 25, 3, 50, 1, 0 };
    static const uint8_t aa[] = { 26, 0 };
    static const uint8_t aia[] = { 2, 0, 26, 0 };
    static const uint8_t gt_only[] = { 1, 3, 16, 1, 0x01 };
    static const uint8_t gt_dt[] = { 1, 3, 16, 1, 0x01, 1, 0, 'x' };
    static const uint8_t map_noend[] = { 1, 0, 41, 6, 15, 1, 1, 42, 1, '3' };
    static const uint8_t map_end[] = { 1, 0, 41, 3, 42, 1, '3' };
    ck_assert_int_eq(x400i_spdu_decode_tsdu(ab, sizeof ab, 0, o, &d), 1);
    ck_assert_int_eq(o[0].type, X400I_SPDU_AB);
    ck_assert_uint_eq(o[0].tdisc, 0x0b);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(ai, sizeof ai, 0, o, &d), 2);
    ck_assert_int_eq(o[1].type, X400I_SPDU_AI);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(aa, sizeof aa, 0, o, &d), 1);
    ck_assert_int_eq(o[0].type, X400I_SPDU_AA);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(aia, sizeof aia, 0, o, &d), 2);
    ck_assert_int_eq(o[1].type, X400I_SPDU_AIA);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(gt_only, sizeof gt_only, 0, o, &d), 1);
    ck_assert_int_eq(o[0].type, X400I_SPDU_GT);
    ck_assert_uint_eq(o[0].token_item, 1);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(gt_dt, sizeof gt_dt, 0, o, &d), 2);
    ck_assert_int_eq(o[0].type, X400I_SPDU_GT);
    ck_assert_uint_eq(o[0].token_item, 1);
    ck_assert_int_eq(o[1].type, X400I_SPDU_DT);
    ck_assert_uint_eq(o[1].user_data.len, 1);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(map_noend, sizeof map_noend, X400I_SPDU_DEC_ACTIVITY, o, &d), 2);
    ck_assert_int_eq(o[1].type, X400I_SPDU_MAP);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(map_end, sizeof map_end, X400I_SPDU_DEC_ACTIVITY, o, &d), 2);
    ck_assert_int_eq(o[1].type, X400I_SPDU_AE);
    ck_assert_uint_eq(o[1].serial, 3);
    ck_assert_int_eq(x400i_spdu_decode_tsdu(map_end, sizeof map_end, 0, o, &d), 2);
    ck_assert_int_eq(o[1].type, X400I_SPDU_MAP);
}
END_TEST

typedef struct bad_case {
    const char *hex;
    int err;
    const char *diag; /* substring expected in the diagnostic */
} bad_case;

static const bad_case bad_cases[] = {
    { "", X400_ERR_PARSE, "empty TSDU" },
    { "0d", X400_ERR_PARSE, "length indicator missing" },
    { "0d05", X400_ERR_PARSE, "runs past the end of the TSDU" },
    { "0dff00", X400_ERR_PARSE, "three-octet length indicator truncated" },
    { "0dff0003140202", X400_ERR_PARSE, "< 255 must use one octet" },
    { "0dff", X400_ERR_PARSE, "truncated" },
    { "0d0114", X400_ERR_PARSE, "length indicator missing" },
    { "0d021403", X400_ERR_PARSE, "runs past the end of its SPDU" },
    { "0d031403", X400_ERR_PARSE, "runs past the end of the TSDU" },
    { "0d0214ff", X400_ERR_PARSE, "three-octet length indicator truncated" },
    { "0d0414ff0002", X400_ERR_PARSE, "< 255 must use one octet" },
    { "0d0314ff00", X400_ERR_PARSE, "truncated" },
    { "0d051402024901", X400_ERR_PARSE, "PI 1: length indicator missing" },
    { "0d08140202491402024a", X400_ERR_PARSE, "duplicated" },
    { "0d031401ff", X400_ERR_PARSE, "has length 1, must be 2" },
    { "0d03630100", X400_ERR_PARSE, "unknown parameter code 99" },
    { "0d0405021301", X400_ERR_PARSE, "runs past the end of its group" },
    { "0d06050414020249", X400_ERR_PARSE, "PI 20 not allowed inside Connect/Accept Item" },
    { "0d0401030a01", X400_ERR_PARSE, "runs past the end of its SPDU" },
    { "0d0801060a01410a0142", X400_ERR_PARSE, "duplicated" },
    { "0d050103130100", X400_ERR_PARSE, "PI 19 not allowed inside Connection Identifier" },
    { "0d0405021600", X400_ERR_PARSE, "has length 0, must be 1" },
    { "0d050503160100", X400_ERR_PARSE, "offers neither version" },
    { "0d03160101", X400_ERR_PARSE, "PI 22 not allowed at the top level" },
    { "0d03100101", X400_ERR_PARSE, "parameter 16 is not allowed in CN" },
    { "0d1333110000000000000000000000000000000000", X400_ERR_PARSE, "length 17, must be 0..16" },
    { "0dc1", X400_ERR_PARSE, "runs past the end of the TSDU" },
    { "0e04c200c200", X400_ERR_PARSE, "Extended User Data (PGI 194) is only allowed in CN" },
    { "0e04c100c200", X400_ERR_PARSE, "parameter 194 duplicated" },
    { "0e04c100c100", X400_ERR_PARSE, "duplicated" },
    { "0c00", X400_ERR_PARSE, "mandatory parameter Reason Code (PI 50) missing" },
    { "0c043202aabb", X400_ERR_PARSE, "only reason 2" },
    { "0c03c10100", X400_ERR_PARSE, "User Data (PGI 193) not allowed" },
    { "3100", X400_ERR_PARSE, "not preceded by a category 0 SPDU" },
    { "0100", X400_ERR_PARSE, "", },   /* placeholder: a lone GT is valid (see below) */
    { "01000d00", X400_ERR_PARSE, "may not follow a category 0 SPDU" },
    { "01000100010000", X400_ERR_PARSE, "", },  /* DT user info swallows the rest: valid */
    { "01003103", X400_ERR_PARSE, "runs past the end of the TSDU" },
    { "010031032a0133aa", X400_ERR_PARSE, "more than two SPDUs" },
    { "01003100", X400_ERR_PARSE, "mandatory parameter Serial Number (PI 42) missing" },
    { "010031032a0141", X400_ERR_PARSE, "not a decimal serial number" },
    { "010031092a0731323334353637", X400_ERR_PARSE, "length 7, must be 1..6" },
    { "01002d00", X400_ERR_PARSE, "mandatory parameter Activity Identifier" },
    { "010031062a0131290107", X400_ERR_PARSE, "parameter 41 is not allowed in MIP" },
    { "01001d03290107", X400_ERR_PARSE, "Linking Information (PGI 33) missing" },
    { "01001d0821032a0131290107", X400_ERR_PARSE, "old Activity Identifier (PGI 33 / PI 41) missing" },
    { "010031032a013131032a0132", X400_ERR_PARSE, "more than two SPDUs" },
    { "01001d082103290106290107", X400_ERR_PARSE, "Serial Number (PGI 33 / PI 42) missing" },
    { "01001d0b21061301002a0131290107", X400_ERR_PARSE, "PI 19 not allowed inside Linking Information" },
    { "0200", X400_ERR_PARSE, "" },   /* a PT without Token Item decodes (the SPM refuses it alone) */
    /* X.225 6.3.7: GT only before initiating, PT only before acknowledging SPDUs */
    { "01002a032a0131", X400_ERR_PARSE, "MAA/AEA SPDU (SI 42) may not be concatenated after GT" },
    { "010032032a0131", X400_ERR_PARSE, "MIA SPDU (SI 50) may not be concatenated after GT" },
    { "01001a00", X400_ERR_PARSE, "AIA SPDU (SI 26) may not be concatenated after GT" },
    { "01003a00", X400_ERR_PARSE, "ADA SPDU (SI 58) may not be concatenated after GT" },
    { "02000100aa", X400_ERR_PARSE, "DT SPDU (SI 1) may not be concatenated after PT" },
    { "020029032a0131", X400_ERR_PARSE, "MAP/AE SPDU (SI 41) may not be concatenated after PT" },
    { "02002d03290101", X400_ERR_PARSE, "AS SPDU (SI 45) may not be concatenated after PT" },
    { "02001903320100", X400_ERR_PARSE, "AI SPDU (SI 25) may not be concatenated after PT" },
    /* X.225 8.3 Connection Identifier contents per SPDU */
    { "0d0601040902414a", X400_ERR_PARSE, "parameter 9 inside Connection Identifier (PGI 1) is not allowed in CN" },
    { "0c0901040a02414a320100", X400_ERR_PARSE, "parameter 10 inside Connection Identifier (PGI 1) is not allowed in RF" },
    { "0c0801030b0141320100", X400_ERR_PARSE, "" }, /* RF with a Connection Identifier */
    { "0c03100101", X400_ERR_PARSE, "parameter 16 is not allowed in RF" },
    { "02031001ff", X400_ERR_PARSE, "reserved bits" },
    { "0d00aa", X400_ERR_PARSE, "category 1" },
    { "1900ff", X400_ERR_PARSE, "category 1" },
    { "0700", X400_ERR_UNSUPPORTED, "PREPARE (PR) SPDU (SI 7) not supported" },
    { "3500", X400_ERR_UNSUPPORTED, "RESYNCHRONIZE" },
    { "0500", X400_ERR_UNSUPPORTED, "EXPEDITED" },
    { "7f00", X400_ERR_PARSE, "unknown SPDU identifier 127" },
    { "01007f00", X400_ERR_PARSE, "unknown SPDU identifier 127" },
    { "0100010319010100", X400_ERR_UNSUPPORTED, "segmented SSDUs are not supported" },
    { "0100010319010300", X400_ERR_PARSE, "", }, /* DT with enclosure 3 + data: valid */
    { "01000103c10100", X400_ERR_PARSE, "DT SPDU: User Data PGI not allowed" },
    { "0100190332010000", X400_ERR_PARSE, "more than two SPDUs" },
    { "010019043202aabb", X400_ERR_PARSE, "has length 2, must be 1" },
    { "0200300332010500", X400_ERR_PARSE, "more than two SPDUs" },
    { "02003000", X400_ERR_PARSE, "Reason Code (PI 50) missing" },
    { "01003000", X400_ERR_PARSE, "ED SPDU (SI 48) may not be concatenated after GT" },
};

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    while (h[0] && h[1]) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

START_TEST(bad_inputs)
{
    char fails[4096] = "";
    for (size_t i = 0; i < X400I_ARRAY_LEN(bad_cases); i++) {
        const bad_case *c = &bad_cases[i];
        uint8_t buf[128];
        size_t n;
        x400i_spdu o[2];
        x400_diag d;
        int rc;
        if (strlen(c->hex) % 2) continue;
        n = unhex(c->hex, buf);
        memset(&d, 0, sizeof d);
        rc = x400i_spdu_decode_tsdu(buf, n, 0, o, &d);
        if (!c->diag[0]) { /* documented valid edge case */
            ck_assert_msg(rc > 0, "case %zu (%s) should decode: %s", i, c->hex, d.text);
            continue;
        }
        if (rc != c->err || strstr(d.text, c->diag) == NULL) {
            size_t l = strlen(fails);
            snprintf(fails + l, sizeof fails - l, "\n case %zu (%s): rc %d want %d, diag \"%s\" want \"%s\"",
                     i, c->hex, rc, c->err, d.text, c->diag);
            continue;
        }
        ck_assert_int_eq(d.layer, X400_LAYER_SESSION);
        ck_assert_int_eq(d.source, X400_SOURCE_PEER);
        ck_assert_int_eq(d.code, c->err);
    }
    ck_assert_msg(fails[0] == 0, "%s", fails);
}
END_TEST

/* Every truncation of the real CN and of a GT+AR is refused cleanly (no
 * out-of-bounds read under ASan), and the full one decodes. */
START_TEST(truncations)
{
    x400i_spdu s, o[2];
    x400i_buf b;
    x400_diag d;
    for (size_t n = 0; n < sizeof real_cn; n++)
        ck_assert_int_lt(x400i_spdu_decode_tsdu(real_cn, n, 0, o, &d), 0);
    fill_all(&s, X400I_SPDU_AR);
    x400i_buf_init(&b, NULL, 0);
    ck_assert_int_eq(x400i_spdu_encode_tsdu(&b, &s, &d), 0);
    for (size_t n = 0; n < b.len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.p, n);
        /* a GT alone (n == 2) is a valid TSDU; all else is an error */
        if (n == 2) ck_assert_int_eq(x400i_spdu_decode_tsdu(copy, n, 0, o, &d), 1);
        else ck_assert_int_lt(x400i_spdu_decode_tsdu(copy, n, 0, o, &d), 0);
        free(copy);
    }
    x400i_buf_free(&b);
}
END_TEST

/* Encoder refuses what X.225 does not allow. */
START_TEST(encode_refusals)
{
    x400i_spdu s;
    x400i_buf b;
    x400_diag d;
    x400i_buf_init(&b, NULL, 0);
    fill_all(&s, X400I_SPDU_DN);
    s.present |= X400I_SP_TOKEN_ITEM;
    ck_assert_int_eq(x400i_spdu_encode(&b, &s, &d), X400_ERR_INVALID_ARG);
    fill_all(&s, X400I_SPDU_MIP);
    s.present &= ~(uint32_t)X400I_SP_SERIAL;
    ck_assert_int_eq(x400i_spdu_encode(&b, &s, &d), X400_ERR_INVALID_ARG);
    fill_all(&s, X400I_SPDU_MIP);
    s.serial = 1000000;
    ck_assert_int_eq(x400i_spdu_encode(&b, &s, &d), X400_ERR_TOO_LONG);
    fill_all(&s, X400I_SPDU_AS);
    s.activity_id.len = 7;
    ck_assert_int_eq(x400i_spdu_encode(&b, &s, &d), X400_ERR_TOO_LONG);
    fill_all(&s, X400I_SPDU_CN);
    s.called_ssel.len = 17;
    ck_assert_int_eq(x400i_spdu_encode(&b, &s, &d), X400_ERR_TOO_LONG);
    fill_all(&s, X400I_SPDU_RF);
    s.reason = 1;
    ck_assert_int_eq(x400i_spdu_encode(&b, &s, &d), X400_ERR_INVALID_ARG);
    ck_assert_uint_eq(b.len, 0);
    /* a bounded buffer refuses to grow: LIMIT, nothing appended */
    {
        x400i_buf small;
        x400i_buf_init(&small, NULL, 8);
        fill_all(&s, X400I_SPDU_AS);
        ck_assert_int_eq(x400i_spdu_encode_tsdu(&small, &s, &d), X400_ERR_LIMIT);
        ck_assert_uint_eq(small.len, 0);
        x400i_buf_free(&small);
    }
    x400i_buf_free(&b);
}
END_TEST

/* X.225 6.3.7 basic concatenation, the test's own copy of the table: GT in
 * front of the initiating category 2 SPDUs, PT in front of the
 * acknowledging ones.  Each is produced with exactly its carrier (empty)
 * and refused behind the other one. */
START_TEST(concatenation_table)
{
    static const struct { x400i_spdu_type t; uint8_t carrier_si; } tab[] = {
        { X400I_SPDU_DT, 1 }, { X400I_SPDU_MIP, 1 }, { X400I_SPDU_MAP, 1 }, { X400I_SPDU_AE, 1 },
        { X400I_SPDU_AS, 1 }, { X400I_SPDU_AR, 1 }, { X400I_SPDU_AI, 1 }, { X400I_SPDU_AD, 1 },
        { X400I_SPDU_MIA, 2 }, { X400I_SPDU_MAA, 2 }, { X400I_SPDU_AEA, 2 }, { X400I_SPDU_AIA, 2 },
        { X400I_SPDU_ADA, 2 }, { X400I_SPDU_ER, 2 }, { X400I_SPDU_ED, 2 },
    };
    size_t ncat2 = 0;
    for (int t = 0; t < X400I_SPDU_TYPE_COUNT; t++) ncat2 += x400i_spdu_category((x400i_spdu_type)t) == 2;
    ck_assert_uint_eq(ncat2, X400I_ARRAY_LEN(tab)); /* every category 2 SPDU is in the table */
    for (size_t i = 0; i < X400I_ARRAY_LEN(tab); i++) {
        x400i_spdu in, out[2];
        x400i_buf b;
        x400_diag d;
        int n;
        fill_all(&in, tab[i].t);
        x400i_buf_init(&b, NULL, 0);
        ck_assert_msg(x400i_spdu_encode_tsdu(&b, &in, &d) == 0, "%s: %s", x400i_spdu_name(in.type), d.text);
        ck_assert_msg(b.p[0] == tab[i].carrier_si && b.p[1] == 0, "%s sent behind SI %u LI %u",
                      x400i_spdu_name(in.type), b.p[0], b.p[1]);
        n = x400i_spdu_decode_tsdu(b.p, b.len, X400I_SPDU_DEC_ACTIVITY, out, &d);
        ck_assert_msg(n == 2, "%s: %s", x400i_spdu_name(in.type), d.text);
        b.p[0] = tab[i].carrier_si == 1 ? 2 : 1; /* the wrong carrier */
        memset(&d, 0, sizeof d);
        n = x400i_spdu_decode_tsdu(b.p, b.len, X400I_SPDU_DEC_ACTIVITY, out, &d);
        ck_assert_msg(n == X400_ERR_PARSE && strstr(d.text, "may not be concatenated after") &&
                      strstr(d.text, tab[i].carrier_si == 1 ? "after PT" : "after GT"),
                      "%s behind the wrong carrier: %d %s", x400i_spdu_name(in.type), n, d.text);
        ck_assert_int_eq(d.source, X400_SOURCE_PEER);
        x400i_buf_free(&b);
    }
}
END_TEST

/* PP's acknowledgement of an activity end (test/interop/pp-pp-1988-twa.txt):
 * PLEASE TOKENS without parameters carrying the AEA; and a REFUSE with a
 * Connection Identifier (pp-resp-1988-twa-recover-refused.txt, frame 40,
 * user data shortened). */
START_TEST(pp_pt_aea_and_rf)
{
    static const uint8_t pt_aea[] = { 0x02, 0x00, 0x2a, 0x03, 0x2a, 0x01, 0x31 };
    static const uint8_t rf[] = { 0x0c, 0x34, 0x01, 0x26, 0x09, 0x15, 'X', '4', 'M', 'T', 'A', '/', '1',
        '7', '9', '6', '3', '9', '6', '5', '5', '3', '7', '5', '6', '/', '4', 0x0b, 0x0d, '2', '6', '1',
        '2', '0', '4', '1', '5', '0', '3', '0', '6', 'Z', 0x11, 0x01, 0x01, 0x14, 0x02, 0x02, 0x49,
        0x32, 0x03, 0x02, 0x30, 0x00 };
    x400i_spdu o[2];
    x400_diag d;
    ck_assert_uint_eq(sizeof rf - 2, rf[1]);
    ck_assert_msg(x400i_spdu_decode_tsdu(pt_aea, sizeof pt_aea, X400I_SPDU_DEC_ACTIVITY, o, &d) == 2, "%s", d.text);
    ck_assert_int_eq(o[0].type, X400I_SPDU_PT);
    ck_assert_uint_eq(o[0].present, 0);
    ck_assert_int_eq(o[1].type, X400I_SPDU_MAA); /* MAA and AEA share SI 42; the SPM tells them apart */
    ck_assert_uint_eq(o[1].serial, 1);
    ck_assert_msg(x400i_spdu_decode_tsdu(rf, sizeof rf, 0, o, &d) == 1, "%s", d.text);
    ck_assert_int_eq(o[0].type, X400I_SPDU_RF);
    ck_assert_uint_eq(o[0].present, X400I_SP_CONN_ID | X400I_SP_CALLED_REF | X400I_SP_COMMON_REF |
                      X400I_SP_TDISC | X400I_SP_REQUIREMENTS | X400I_SP_REASON | X400I_SP_USER_DATA);
    ck_assert_uint_eq(o[0].called_ref.len, 21);
    ck_assert_mem_eq(o[0].common_ref.p, "261204150306Z", 13);
    ck_assert_uint_eq(o[0].reason, 2);
    ck_assert_uint_eq(o[0].user_data.len, 2);
    /* and we encode an RF with a Connection Identifier the same way */
    {
        x400i_buf b;
        x400_diag e;
        x400i_buf_init(&b, NULL, 0);
        ck_assert_msg(x400i_spdu_encode_tsdu(&b, &o[0], &e) == 0, "%s", e.text);
        ck_assert_uint_eq(b.len, sizeof rf);
        ck_assert_mem_eq(b.p, rf, sizeof rf);
        x400i_buf_free(&b);
    }
}
END_TEST

/* Every SPDU in test/interop/: PP's own and those of the earlier x400mta it
 * talked to.  All decode (an AC with a Calling SS-user Reference in its
 * Connection Identifier, as the earlier x400mta sent, is the one documented
 * leniency they need); every proper prefix of each TSDU is refused cleanly
 * or, where a DT's user information is cut, decodes; and the strict test
 * peer passes every TSDU PP sent. */
struct interop_run {
    const char *file;
    int pp_dir;            /* 1: PP is the initiator, 0: the responder, 2: both */
    size_t tsdus, spdus, strict_checked, lenient_ac, rf_conn_id, pt_carriers;
    char fails[2048];
};

static int interop_one(void *user, int from_initiator, const uint8_t *p, size_t n)
{
    struct interop_run *r = user;
    x400i_spdu o[2];
    x400_diag d;
    char err[512];
    int k;
    r->tsdus++;
    k = x400i_spdu_decode_tsdu(p, n, X400I_SPDU_DEC_ACTIVITY, o, &d);
    if (k < 0) {
        size_t l = strlen(r->fails);
        snprintf(r->fails + l, sizeof r->fails - l, "\n%s TSDU %zu: %s", r->file, r->tsdus, d.text);
        return 0;
    }
    r->spdus += (size_t)k;
    if (o[0].type == X400I_SPDU_AC && (o[0].present & X400I_SP_CALLING_REF)) r->lenient_ac++;
    if (o[0].type == X400I_SPDU_RF && (o[0].present & X400I_SP_CONN_ID)) r->rf_conn_id++;
    if (k == 2 && o[0].type == X400I_SPDU_PT) r->pt_carriers++;
    for (size_t cut = 0; cut < n; cut++) {
        x400i_spdu q[2];
        int rc = x400i_spdu_decode_tsdu(p, cut, X400I_SPDU_DEC_ACTIVITY, q, &d);
        if (rc < 0) ck_assert_msg(rc == X400_ERR_PARSE && d.text[0], "%s: cut %zu: %d", r->file, cut, rc);
        else /* only a cut DT's user information, or the carrier alone */
            ck_assert_msg(k == 2 && ((rc == 2 && q[1].type == X400I_SPDU_DT) ||
                                     (rc == 1 && x400i_spdu_category(q[0].type) == 0)),
                          "%s: a prefix of %zu decodes", r->file, cut);
    }
    if (r->pp_dir == 2 || r->pp_dir == from_initiator) {
        r->strict_checked++;
        if (x400t_strict_tsdu(p, n, from_initiator, err, sizeof err) != 0) {
            size_t l = strlen(r->fails);
            snprintf(r->fails + l, sizeof r->fails - l, "\n%s TSDU %zu (PP): strict peer: %s", r->file,
                     r->tsdus, err);
        }
    }
    return 0;
}

START_TEST(interop_vectors)
{
    static const char *const files[] = {
        "pp-init-1984-twa-bind", "pp-init-1988-monologue-dr", "pp-init-1988-monologue-message",
        "pp-init-1988-monologue-ndr", "pp-init-1988-monologue-probe", "pp-init-1988-twa-dr",
        "pp-init-1988-twa-message", "pp-init-1988-twa-ndr", "pp-init-1988-twa-probe", "pp-pp-1984-twa",
        "pp-pp-1988-mon", "pp-pp-1988-twa", "pp-resp-1984-twa-message",
        "pp-resp-1984-twa-recover-refused", "pp-resp-1988-monologue-message",
        "pp-resp-1988-monologue-recover-refused", "pp-resp-1988-twa-message",
        "pp-resp-1988-twa-recover-refused",
    };
    size_t tsdus = 0, spdus = 0, strict = 0, lenient = 0, rf_ci = 0, pt = 0;
    for (size_t i = 0; i < X400I_ARRAY_LEN(files); i++) {
        struct interop_run r;
        char err[1200];
        int n;
        memset(&r, 0, sizeof r);
        r.file = files[i];
        r.pp_dir = !strncmp(files[i], "pp-pp", 5) ? 2 : !strncmp(files[i], "pp-init", 7) ? 1 : 0;
        n = x400t_interop_tsdus(files[i], interop_one, &r, err, sizeof err);
        ck_assert_msg(n > 0, "%s: no TSDU read: %s", files[i], err);
        ck_assert_msg(r.fails[0] == 0, "%s", r.fails);
        tsdus += r.tsdus; spdus += r.spdus; strict += r.strict_checked;
        lenient += r.lenient_ac; rf_ci += r.rf_conn_id; pt += r.pt_carriers;
    }
    ck_assert_uint_eq(tsdus, 103);
    ck_assert_uint_ge(spdus, tsdus + 40);
    ck_assert_uint_eq(strict, 66);   /* TSDUs sent by PP */
    ck_assert_uint_eq(lenient, 8);  /* the earlier x400mta's ACs (pp-init-1988-*) */
    ck_assert_uint_eq(rf_ci, 2);    /* PP's REFUSE of a recovery */
    ck_assert_uint_eq(pt, 6);       /* PP's PT + AEA */
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(x400i_spdu_name(X400I_SPDU_AEA), "AEA");
    ck_assert_uint_eq(x400i_spdu_si(X400I_SPDU_AI), 25);
    ck_assert_uint_eq(x400i_spdu_si(X400I_SPDU_AB), 25);
    ck_assert_int_eq(x400i_spdu_category(X400I_SPDU_AB), 1);
    ck_assert_int_eq(x400i_spdu_category(X400I_SPDU_AI), 2);
    ck_assert_str_eq(x400i_spdu_name((x400i_spdu_type)99), "?");
    ck_assert_str_eq(x400i_ses_refuse_reason_name(0x84), "proposed protocol versions not supported");
    ck_assert_str_eq(x400i_ses_exception_reason_name(128), "demand data token");
}
END_TEST

Suite *x400t_suite_spdu(void)
{
    Suite *s = suite_create("spdu");
    TCase *tc = tcase_create("codec");
    tcase_set_timeout(tc, 60); /* interop_vectors decodes every prefix of 103 TSDUs */
    tcase_add_test(tc, round_trip_all_types);
    tcase_add_test(tc, round_trip_minimal);
    tcase_add_test(tc, real_mta_cn_ac);
    tcase_add_test(tc, encode_matches_real_cn);
    tcase_add_test(tc, long_lengths);
    tcase_add_test(tc, shared_si_codes);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, truncations);
    tcase_add_test(tc, encode_refusals);
    tcase_add_test(tc, names);
    tcase_add_test(tc, concatenation_table);
    tcase_add_test(tc, pp_pt_aea_and_rf);
    tcase_add_test(tc, interop_vectors);
    suite_add_tcase(s, tc);
    return s;
}
