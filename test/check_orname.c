/* O/R names (include/x400p1/orname.h): the text form (parse, format,
 * awkward values: spaces, the single-space ADMD, T.61 characters, escapes),
 * validation, and the BER of ORName checked against asn1c's decoder. */
#include <stdlib.h>
#include <string.h>

#include <asn_application.h>
#include <ber_decoder.h>
#include <ORName.h>

#include "internal.h"
#include "p1_int.h"
#include "x400p1/orname.h"
#include "x400t.h"

static x400_orname parse_ok(const char *t)
{
    x400_orname n;
    x400_diag d;
    memset(&d, 0, sizeof d);
    int rc = x400_orname_parse(t, strlen(t), &n, &d);
    ck_assert_msg(rc == X400_OK, "parse \"%s\": %d %s", t, rc, d.text);
    return n;
}

static void fmt_is(const x400_orname *n, const char *want)
{
    char buf[X400_ORNAME_TEXT_MAX];
    int len = x400_orname_format(n, buf, sizeof buf);
    ck_assert_int_ge(len, 0);
    ck_assert_str_eq(buf, want);
    ck_assert_uint_eq((size_t)len, strlen(want));
}

/* BER round trip through the internal codec; asn1c must accept it too. */
static void ber_roundtrip(const x400_orname *n)
{
    uint8_t buf[4096];
    x400i_bw w;
    x400_diag d;
    x400i_bw_init_fixed(&w, buf, sizeof buf, X400_LAYER_P1, &d);
    x400i_orname_encode(&w, n, X400I_BER_APPLICATION, 0);
    ck_assert_int_eq(w.err, 0);
    const uint8_t *b = buf + w.pos;
    size_t len = x400i_bw_len(&w);
    ORName_t *p = NULL;
    asn_dec_rval_t r = ber_decode(NULL, &asn_DEF_ORName, (void **)&p, b, len);
    ck_assert_msg(r.code == RC_OK && r.consumed == len, "asn1c ORName: %d", (int)r.code);
    ASN_STRUCT_FREE(asn_DEF_ORName, p);
    x400i_tlv t;
    ck_assert_int_eq(x400i_ber_read(b, len, &t, 64, X400_LAYER_P1, &d), 0);
    x400_orname back;
    x400i_dec dc = { .diag = &d };
    ck_assert_msg(x400i_orname_decode(&dc, &t, &back) == 0, "%s", d.text);
    ck_assert(x400_orname_equal(n, &back));
    ck_assert_int_eq(memcmp(n->country, back.country, sizeof n->country), 0);
    ck_assert_uint_eq(n->admd_present, back.admd_present);
    ck_assert_str_eq(n->admd, back.admd);
}

START_TEST(text_basic)
{
    const char *t = "C=GB;A= ;P=SMHS;O=Org;S=Smith;G=Ann";
    x400_orname n = parse_ok(t);
    ck_assert_str_eq(n.country, "GB");
    ck_assert(n.admd_present);
    ck_assert_str_eq(n.admd, " ");
    ck_assert_str_eq(n.prmd, "SMHS");
    ck_assert_str_eq(n.org, "Org");
    ck_assert_str_eq(n.pn.surname, "Smith");
    ck_assert_str_eq(n.pn.given, "Ann");
    fmt_is(&n, t);
    ber_roundtrip(&n);
    /* any attribute order parses to the same name; trailing ';' allowed */
    x400_orname m = parse_ok("G=Ann;S=Smith;O=Org;P=SMHS;A= ;C=GB;");
    ck_assert(x400_orname_equal(&n, &m));
    /* an empty ADMD differs from an absent one and from " " */
    x400_orname e = parse_ok("C=GB;A=;S=X"), a = parse_ok("C=GB;S=X"), s = parse_ok("C=GB;A= ;S=X");
    ck_assert(e.admd_present);
    ck_assert(!a.admd_present);
    ck_assert(!x400_orname_equal(&e, &a));
    ck_assert(!x400_orname_equal(&e, &s));
    fmt_is(&e, "C=GB;A=;S=X");
    ber_roundtrip(&e);
    ber_roundtrip(&a);
}
END_TEST

START_TEST(text_every_attribute)
{
    const char *t = "C=234;A#=0001;P#=42;O=Org (UK) Ltd.;OU=Ops;OU=Night shift;OU=c;OU=d;"
                    "S=O'Brien;G=Ann-Marie;I=AM;Q=III;CN=Ann O'Brien;X121=23421234;T-ID=term/1;"
                    "UA-ID=0042 77;DDA:RFC-822=ann(a)example.org;DDA:x\\=y=1+1=2;"
                    "TCN=Ann \\xC2O'Brien;TO=Soci\\xC2et\\xC2e;TOU=Unit\\xC1a;TOU=b;TS=M\\xC8uller;TG=J\\xC2os\\xC2e;TI=J;TQ=II;"
                    "EA12=1603616263;DIR=3000";
    x400_orname n = parse_ok(t);
    ck_assert(n.admd_numeric);
    ck_assert(n.prmd_numeric);
    ck_assert_uint_eq(n.n_ou, 4);
    ck_assert_uint_eq(n.n_dda, 2);
    ck_assert_str_eq(n.dda[1].type, "x=y");
    ck_assert_str_eq(n.dda[1].value, "1+1=2");
    ck_assert_str_eq(n.t_org, "Soci\xC2" "et\xC2" "e");
    ck_assert_str_eq(n.t_pn.surname, "M\xC8uller");
    ck_assert_uint_eq(n.n_opaque, 1);
    ck_assert_uint_eq(n.opaque[0].type, 12);
    ck_assert_uint_eq(n.dir_len, 2);
    fmt_is(&n, t);
    ber_roundtrip(&n);
}
END_TEST

START_TEST(text_awkward_values)
{
    /* leading/trailing/multiple spaces are values, not separators */
    x400_orname n = parse_ok("C=GB;A=  ;O= Org  Two ;S=Smith ");
    ck_assert_str_eq(n.admd, "  ");
    ck_assert_str_eq(n.org, " Org  Two ");
    ck_assert_str_eq(n.pn.surname, "Smith ");
    fmt_is(&n, "C=GB;A=  ;O= Org  Two ;S=Smith ");
    ber_roundtrip(&n);
    /* ';' and '\' only exist in T.61 values; they are escaped */
    x400_orname m = parse_ok("C=GB;TO=a\\;b\\\\c;TS=x\\x7Fy");
    ck_assert_str_eq(m.t_org, "a;b\\c");
    ck_assert_str_eq(m.t_pn.surname, "x\x7Fy");
    fmt_is(&m, "C=GB;TO=a\\;b\\\\c;TS=x\\x7Fy");
    ber_roundtrip(&m);
    /* T.61 octets >= 0x80 come back as \xHH (the text form stays ASCII) */
    x400_orname t = parse_ok("C=FR;TCN=\\xC1e\\xC8e\\xFB");
    ck_assert_uint_eq((unsigned char)t.t_common_name[0], 0xC1);
    fmt_is(&t, "C=FR;TCN=\\xC1e\\xC8e\\xFB");
    ber_roundtrip(&t);
    /* lower-case hex is accepted, upper-case written */
    x400_orname l = parse_ok("C=FR;TCN=\\xc1a");
    fmt_is(&l, "C=FR;TCN=\\xC1a");
    /* maximal lengths */
    char big[512];
    snprintf(big, sizeof big, "C=GB;O=%.*s;S=%.*s;DDA:%.*s=%.*s", 64,
             "oooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo", 40,
             "ssssssssssssssssssssssssssssssssssssssssssssssss", 8, "tttttttttt", 128,
             "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
    x400_orname b = parse_ok(big);
    fmt_is(&b, big);
    ber_roundtrip(&b);
}
END_TEST

START_TEST(text_errors)
{
    static const struct { const char *t; int rc; } bad[] = {
        { "C=GB;Z=1", X400_ERR_PARSE },                 /* unknown key */
        { "C=GB;S", X400_ERR_PARSE },                   /* no '=' */
        { "C=GB;C=FR", X400_ERR_PARSE },                /* repeated */
        { "C=GB;S=a;S=b", X400_ERR_PARSE },
        { "C=GBR", X400_ERR_INVALID_ARG },
        { "C=GBRX", X400_ERR_TOO_LONG },
        { "C=G1", X400_ERR_INVALID_ARG },               /* neither 2 letters nor 3 digits */
        { "C=12", X400_ERR_INVALID_ARG },
        { "C=GB;O=a@b", X400_ERR_INVALID_ARG },         /* '@' is not PrintableString */
        { "C=GB;O=caf\\xE9", X400_ERR_INVALID_ARG },    /* nor is a T.61 octet */
        { "C=GB;A#=12a", X400_ERR_INVALID_ARG },        /* numeric ADMD with a letter */
        { "C=GB;G=Ann", X400_ERR_INVALID_ARG },         /* given name without surname */
        { "C=GB;OU=a;OU=b;OU=c;OU=d;OU=e", X400_ERR_TOO_LONG },
        { "C=GB;A=12345678901234567", X400_ERR_TOO_LONG },
        { "C=GB;S=x\\q", X400_ERR_PARSE },              /* unknown escape */
        { "C=GB;S=x\\", X400_ERR_PARSE },
        { "C=GB;TS=\\x00", X400_ERR_PARSE },            /* NUL */
        { "C=GB;TS=\\x4", X400_ERR_PARSE },
        { "C=GB;EA12=123", X400_ERR_PARSE },            /* odd hex */
        { "C=GB;EA2=1400", X400_ERR_PARSE },            /* a decoded type as opaque */
        { "C=GB;EA999=00", X400_ERR_PARSE },
        { "C=GB;O=", X400_ERR_PARSE },                  /* empty value */
        { "C=GB;X121=12ab", X400_ERR_INVALID_ARG },
        { "C=GB;DDA:t", X400_ERR_PARSE },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        x400_orname n;
        x400_diag d;
        memset(&d, 0, sizeof d);
        int rc = x400_orname_parse(bad[i].t, strlen(bad[i].t), &n, &d);
        ck_assert_msg(rc == bad[i].rc, "\"%s\": got %d want %d (%s)", bad[i].t, rc, bad[i].rc, d.text);
        ck_assert_int_eq(d.layer, X400_LAYER_P1);
        ck_assert(d.text[0]);
    }
    /* format into a too small buffer */
    x400_orname n = parse_ok("C=GB;S=Smith");
    char small[5];
    ck_assert_int_eq(x400_orname_format(&n, small, sizeof small), X400_ERR_BUFFER_TOO_SMALL);
    ck_assert_str_eq(small, "");
    /* validate catches what a program may set directly */
    n.n_ou = 5;
    ck_assert_int_eq(x400_orname_validate(&n, NULL), X400_ERR_TOO_LONG);
    n.n_ou = 0;
    memset(n.org, 'x', sizeof n.org);
    ck_assert_int_eq(x400_orname_validate(&n, NULL), X400_ERR_TOO_LONG);
}
END_TEST

START_TEST(opaque_and_directory)
{
    x400_orname n;
    x400_orname_init(&n);
    strcpy(n.country, "GB");
    static const uint8_t v[] = { 0x16, 0x01, 'x' };
    ck_assert_int_eq(x400_orname_add_opaque(&n, 22, v, 3), 0);
    ck_assert_int_eq(x400_orname_add_opaque(&n, 22, v, 3), X400_ERR_DUPLICATE);
    ck_assert_int_eq(x400_orname_add_opaque(&n, 4, v, 3), X400_ERR_INVALID_ARG);
    ck_assert_int_eq(x400_orname_add_opaque(&n, 257, v, 3), X400_ERR_INVALID_ARG);
    for (unsigned t = 30; n.n_opaque < X400_ORNAME_OPAQUE_MAX; t++) ck_assert_int_eq(x400_orname_add_opaque(&n, t, v, 3), 0);
    ck_assert_int_eq(x400_orname_add_opaque(&n, 100, v, 3), X400_ERR_FULL);
    uint8_t big[X400_ORNAME_RAW_MAX];
    memset(big, 0x30, sizeof big);
    ck_assert_int_eq(x400_orname_set_directory_name(&n, big, sizeof big), X400_ERR_FULL);
    static const uint8_t dn[] = { 0x30, 0x05, 0x31, 0x03, 0x02, 0x01, 0x07 };
    ck_assert_int_eq(x400_orname_set_directory_name(&n, dn, sizeof dn), 0);
    ck_assert_int_eq(x400_orname_set_directory_name(&n, dn, sizeof dn), X400_ERR_DUPLICATE);
    ber_roundtrip(&n);
    char t[X400_ORNAME_TEXT_MAX];
    ck_assert_int_gt(x400_orname_format(&n, t, sizeof t), 0);
    x400_orname back = parse_ok(t);
    ck_assert(x400_orname_equal(&n, &back));
    ck_assert_uint_eq(back.raw_used, n.raw_used);
}
END_TEST

/* BER decode of a hand-written ORName with the teletex personal name and
 * out-of-order / duplicated attributes refused. */
START_TEST(ber_decode_cases)
{
    x400_diag d;
    x400_orname n;
    x400i_dec dc = { .diag = &d };
    x400i_tlv t;
    /* 60 { 30 { 61 {13 "GB"} 62 {13 " "} 83 "O" } 31 { 30 { 80 01 04, A1 { 31 { 80 01 C8 } } } } } */
    static const uint8_t good[] = { 0x60, 0x1E, 0x30, 0x0E, 0x61, 0x04, 0x13, 0x02, 'G', 'B', 0x62, 0x03, 0x13, 0x01, ' ',
        0x83, 0x01, 'O', 0x31, 0x0C, 0x30, 0x0A, 0x80, 0x01, 0x04, 0xA1, 0x05, 0x31, 0x03, 0x80, 0x01, 0xC8 };
    ck_assert_int_eq(x400i_ber_read(good, sizeof good, &t, 64, X400_LAYER_P1, &d), 0);
    ck_assert_msg(x400i_orname_decode(&dc, &t, &n) == 0, "%s", d.text);
    ck_assert_str_eq(n.org, "O");
    ck_assert_str_eq(n.t_pn.surname, "\xC8");
    /* ADMD before country: out of order */
    static const uint8_t order[] = { 0x60, 0x0D, 0x30, 0x0B, 0x62, 0x03, 0x13, 0x01, ' ', 0x61, 0x04, 0x13, 0x02, 'G', 'B' };
    ck_assert_int_eq(x400i_ber_read(order, sizeof order, &t, 64, X400_LAYER_P1, &d), 0);
    ck_assert_int_eq(x400i_orname_decode(&dc, &t, &n), X400_ERR_PARSE);
    /* organisation with a '@' */
    static const uint8_t at[] = { 0x60, 0x05, 0x30, 0x03, 0x83, 0x01, '@' };
    ck_assert_int_eq(x400i_ber_read(at, sizeof at, &t, 64, X400_LAYER_P1, &d), 0);
    ck_assert_int_eq(x400i_orname_decode(&dc, &t, &n), X400_ERR_PARSE);
    ck_assert_int_eq(d.reason, X400_P1_R_VALUE);
    /* no standard attributes at all */
    static const uint8_t none[] = { 0x60, 0x00 };
    ck_assert_int_eq(x400i_ber_read(none, sizeof none, &t, 64, X400_LAYER_P1, &d), 0);
    ck_assert_int_eq(x400i_orname_decode(&dc, &t, &n), X400_ERR_PARSE);
    ck_assert_int_eq(d.reason, X400_P1_R_MISSING);
}
END_TEST

Suite *x400t_suite_orname(void)
{
    Suite *s = suite_create("orname");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, text_basic);
    tcase_add_test(tc, text_every_attribute);
    tcase_add_test(tc, text_awkward_values);
    tcase_add_test(tc, text_errors);
    tcase_add_test(tc, opaque_and_directory);
    tcase_add_test(tc, ber_decode_cases);
    suite_add_tcase(s, tc);
    return s;
}
