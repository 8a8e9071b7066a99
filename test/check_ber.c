/* lib/ber.c: strict TLV reader, indefinite-to-definite normaliser, writer. */
#include <string.h>

#include "ber.h"
#include "x400t.h"

START_TEST(read_forms)
{
    static const uint8_t def[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
    static const uint8_t indef[] = { 0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00 };
    static const uint8_t longlen[] = { 0x04, 0x81, 0x02, 0xaa, 0xbb };
    static const uint8_t hightag[] = { 0x9f, 0x81, 0x00, 0x00 };  /* [128] */
    x400i_tlv t;
    ck_assert_int_eq(x400i_ber_read(def, sizeof def, &t, 8, X400_LAYER_NONE, NULL), 0);
    ck_assert_uint_eq(t.total, 5);
    ck_assert_uint_eq(t.vlen, 3);
    ck_assert_int_eq(x400i_ber_read(indef, sizeof indef, &t, 8, X400_LAYER_NONE, NULL), 0);
    ck_assert(t.indefinite);
    ck_assert_uint_eq(t.vlen, 3);
    ck_assert_uint_eq(t.total, 7);
    ck_assert_int_eq(x400i_ber_read(longlen, sizeof longlen, &t, 8, X400_LAYER_NONE, NULL), 0);
    ck_assert_uint_eq(t.vlen, 2);
    ck_assert_int_eq(x400i_ber_read(hightag, sizeof hightag, &t, 8, X400_LAYER_NONE, NULL), 0);
    ck_assert_uint_eq(t.tag, 128);
    ck_assert_uint_eq(t.cls, X400I_BER_CONTEXT);
}
END_TEST

START_TEST(read_refuses)
{
    x400_diag d;
    x400i_tlv t;
    static const uint8_t past[] = { 0x30, 0x05, 0x02, 0x01, 0x05 };
    static const uint8_t prim_indef[] = { 0x04, 0x80, 0x00, 0x00 };
    static const uint8_t no_eoc[] = { 0x30, 0x80, 0x02, 0x01, 0x05 };
    static const uint8_t len5[] = { 0x04, 0x85, 0, 0, 0, 0, 1, 0 };
    static const uint8_t eoc[] = { 0x00, 0x00 };
    ck_assert_int_eq(x400i_ber_read(past, sizeof past, &t, 8, X400_LAYER_PRESENTATION, &d), X400_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(d.text, "runs past its container"));
    ck_assert_int_eq(d.layer, X400_LAYER_PRESENTATION);
    ck_assert_int_eq(x400i_ber_read(prim_indef, sizeof prim_indef, &t, 8, 0, &d), X400_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(d.text, "indefinite length on a primitive"));
    ck_assert_int_eq(x400i_ber_read(no_eoc, sizeof no_eoc, &t, 8, 0, &d), X400_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(d.text, "without end-of-contents"));
    ck_assert_int_eq(x400i_ber_read(len5, sizeof len5, &t, 8, 0, &d), X400_ERR_PARSE);
    ck_assert_int_eq(x400i_ber_read(eoc, sizeof eoc, &t, 8, 0, &d), X400_ERR_PARSE);
    for (size_t n = 0; n < sizeof past; n++)   /* every truncation */
        ck_assert_int_eq(x400i_ber_read(past, n, &t, 8, 0, NULL), X400_ERR_PARSE);
}
END_TEST

/* The asn1c limitation (doc/asn1.md): an explicit tag with indefinite
 * length around a definite primitive.  The normaliser makes it definite. */
START_TEST(normalise_mixed)
{
    static const uint8_t in[] = { 0x60, 0x80, 0xa1, 0x80, 0x06, 0x04, 0x56, 0x00, 0x01, 0x06,
                                  0x00, 0x00, 0x00, 0x00 };
    static const uint8_t want[] = { 0x60, 0x08, 0xa1, 0x06, 0x06, 0x04, 0x56, 0x00, 0x01, 0x06 };
    x400i_buf b;
    x400_diag d;
    x400i_buf_init(&b, NULL, 1024);
    ck_assert_int_eq(x400i_ber_normalise(in, sizeof in, &b, 8, 0, &d), 0);
    ck_assert_uint_eq(b.len, sizeof want);
    ck_assert_mem_eq(b.p, want, sizeof want);
    /* trailing octets */
    x400i_buf_reset(&b);
    ck_assert_int_eq(x400i_ber_normalise(want, sizeof want - 1, &b, 8, 0, &d), X400_ERR_PARSE);
    x400i_buf_reset(&b);
    {
        uint8_t two[sizeof want + 2];
        memcpy(two, want, sizeof want);
        two[sizeof want] = 0x05;
        two[sizeof want + 1] = 0x00;
        ck_assert_int_eq(x400i_ber_normalise(two, sizeof two, &b, 8, 0, &d), X400_ERR_PARSE);
        ck_assert_ptr_nonnull(strstr(d.text, "after the end"));
    }
    x400i_buf_free(&b);
}
END_TEST

/* A long value (> 127 and > 255 octets) gets its long-form length right. */
START_TEST(normalise_lengths)
{
    uint8_t in[600], want[600];
    size_t n = 0, w = 0;
    x400i_buf b;
    in[n++] = 0x30; in[n++] = 0x80;
    in[n++] = 0x04; in[n++] = 0x82; in[n++] = 0x01; in[n++] = 0x2c;   /* 300 octets */
    memset(in + n, 0x5a, 300); n += 300;
    in[n++] = 0; in[n++] = 0;
    want[w++] = 0x30; want[w++] = 0x82; want[w++] = 0x01; want[w++] = 0x30;
    want[w++] = 0x04; want[w++] = 0x82; want[w++] = 0x01; want[w++] = 0x2c;
    memset(want + w, 0x5a, 300); w += 300;
    x400i_buf_init(&b, NULL, 4096);
    ck_assert_int_eq(x400i_ber_normalise(in, n, &b, 8, 0, NULL), 0);
    ck_assert_uint_eq(b.len, w);
    ck_assert_mem_eq(b.p, want, w);
    x400i_buf_free(&b);
    /* the output bound holds */
    x400i_buf_init(&b, NULL, 100);
    ck_assert_int_eq(x400i_ber_normalise(in, n, &b, 8, 0, NULL), X400_ERR_LIMIT);
    x400i_buf_free(&b);
}
END_TEST

/* x400i_ber_is_normal (the decoders' no-copy path) says yes exactly when
 * the normaliser's output would be the input itself: definite shortest
 * lengths at every depth; no for indefinite or longer-than-needed lengths,
 * trailing or missing octets, nesting past the bound, an empty input. */
START_TEST(is_normal_agrees_with_normaliser)
{
    static const uint8_t normal[] = { 0x60, 0x08, 0xa1, 0x06, 0x06, 0x04, 0x56, 0x00, 0x01, 0x06 };
    static const uint8_t indef_outer[] = { 0x60, 0x80, 0xa1, 0x06, 0x06, 0x04, 0x56, 0x00, 0x01, 0x06,
                                           0x00, 0x00 };
    static const uint8_t indef_inner[] = { 0x60, 0x0a, 0xa1, 0x80, 0x06, 0x04, 0x56, 0x00, 0x01, 0x06,
                                           0x00, 0x00 };
    static const uint8_t long_form[] = { 0x60, 0x81, 0x08, 0xa1, 0x06, 0x06, 0x04, 0x56, 0x00, 0x01, 0x06 };
    static const uint8_t long_inner[] = { 0x30, 0x05, 0x04, 0x82, 0x00, 0x01, 0x2a };
    static const uint8_t trailing[] = { 0x04, 0x01, 0x2a, 0x05, 0x00 };
    static const uint8_t deep3[] = { 0x30, 0x04, 0x30, 0x02, 0x30, 0x00 };
    static const uint8_t high_tag[] = { 0xbf, 0x81, 0x00, 0x03, 0x02, 0x01, 0x07 };
    struct { const uint8_t *p; size_t n; unsigned depth; bool want; } v[] = {
        { normal, sizeof normal, 8, true },
        { normal, sizeof normal - 1, 8, false },          /* truncated */
        { indef_outer, sizeof indef_outer, 8, false },
        { indef_inner, sizeof indef_inner, 8, false },
        { long_form, sizeof long_form, 8, false },
        { long_inner, sizeof long_inner, 8, false },
        { trailing, sizeof trailing, 8, false },
        { deep3, sizeof deep3, 3, true },
        { deep3, sizeof deep3, 2, false },                 /* past the bound */
        { high_tag, sizeof high_tag, 8, true },
        { normal, 0, 8, false },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        x400i_buf b;
        int rv;
        x400i_buf_init(&b, NULL, 1024);
        rv = x400i_ber_normalise(v[i].p, v[i].n, &b, v[i].depth, 0, NULL);
        ck_assert_msg(x400i_ber_is_normal(v[i].p, v[i].n, v[i].depth) == v[i].want, "case %zu", i);
        /* yes <=> the normaliser succeeds and changes nothing */
        ck_assert_msg(v[i].want == (v[i].n && rv == 0 && b.len == v[i].n && !memcmp(b.p, v[i].p, b.len)),
                      "case %zu: normaliser rv %d, %zu octets", i, rv, b.len);
        x400i_buf_free(&b);
    }
}
END_TEST

/* A million nested constructions, definite and indefinite: refused at the
 * depth bound, quickly, without recursion past it. */
START_TEST(deep_nesting)
{
    size_t n = 2000000;
    uint8_t *p = malloc(n);
    x400i_buf b;
    x400_diag d;
    x400i_tlv t;
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i += 2) { p[i] = 0x30; p[i + 1] = 0x80; }
    x400i_buf_init(&b, NULL, 1u << 20);
    ck_assert_int_eq(x400i_ber_normalise(p, n, &b, X400I_BER_MAX_DEPTH, 0, &d), X400_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(d.text, "deeper than the limit"));
    ck_assert_int_eq(x400i_ber_read(p, n, &t, X400I_BER_MAX_DEPTH, 0, &d), X400_ERR_PARSE);
    x400i_buf_free(&b);
    free(p);
}
END_TEST

START_TEST(writer_and_values)
{
    x400i_buf b;
    size_t m, m2;
    long v;
    uint32_t arcs[8];
    size_t n;
    uint8_t o[16];
    static const uint32_t mts[] = { 2, 6, 0, 1, 6 };
    char txt[32];
    x400i_buf_init(&b, NULL, 0);
    ck_assert_int_eq(x400i_ber_open(&b, 0x30, &m), 0);
    ck_assert_int_eq(x400i_ber_put_int(&b, 0x02, 127), 0);
    ck_assert_int_eq(x400i_ber_put_int(&b, 0x02, 128), 0);
    ck_assert_int_eq(x400i_ber_put_int(&b, 0x02, -1), 0);
    ck_assert_int_eq(x400i_ber_open(&b, 0xa0, &m2), 0);
    for (int i = 0; i < 200; i++) ck_assert_int_eq(x400i_buf_put_u8(&b, 0x05), 0);
    ck_assert_int_eq(x400i_ber_close(&b, m2), 0);
    ck_assert_int_eq(x400i_ber_close(&b, m), 0);
    {
        static const uint8_t head[] = { 0x30, 0x81, 0xd5, 0x02, 0x01, 0x7f, 0x02, 0x02, 0x00, 0x80,
                                        0x02, 0x01, 0xff, 0xa0, 0x81, 0xc8 };
        ck_assert_uint_eq(b.len, sizeof head + 200);
        ck_assert_mem_eq(b.p, head, sizeof head);
    }
    x400i_buf_free(&b);
    ck_assert_int_eq(x400i_ber_get_int((const uint8_t *)"\xff\x7f", 2, &v), 0);
    ck_assert_int_eq(v, -129);
    ck_assert_int_eq(x400i_ber_get_int(NULL, 0, &v), X400_ERR_PARSE);
    ck_assert_int_eq(x400i_oid_encode(mts, 5, o, sizeof o, &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_mem_eq(o, "\x56\x00\x01\x06", 4);
    ck_assert_int_eq(x400i_oid_decode(o, n, arcs, 8, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_uint_eq(arcs[0], 2);
    ck_assert_uint_eq(arcs[1], 6);
    x400i_oid_to_text((const uint8_t *)"\x56\x00\x02\x0c", 4, txt, sizeof txt);
    ck_assert_str_eq(txt, "2.6.0.2.12");
    ck_assert_int_eq(x400i_oid_decode((const uint8_t *)"\x56\x80", 2, arcs, 8, &n), X400_ERR_PARSE);
}
END_TEST

/* The length and identifier codecs (the plain functions the streaming
 * RTSE reader uses): every encoding read back, "more octets needed" at
 * every split offset, the invalid forms refused. */
START_TEST(length_and_identifier_codecs)
{
    static const size_t lens[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, 16777216, 4294967295u };
    static const uint32_t tags[] = { 0, 1, 30, 31, 127, 128, 16383, 16384, 268435455u };
    uint8_t o[X400I_BER_ID_MAX + X400I_BER_LEN_MAX];
    size_t off, len, n;
    uint32_t tag;
    uint8_t first;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        n = x400i_ber_put_len(o, lens[i]);
        ck_assert_uint_eq(n, lens[i] < 128 ? 1 : lens[i] < 256 ? 2 : lens[i] < 65536 ? 3 : lens[i] < 16777216 ? 4 : 5);
        for (size_t k = 0; k < n; k++) {
            off = 0;
            ck_assert_int_eq(x400i_ber_get_len(o, k, &off, &len), 0);
            ck_assert_uint_eq(off, 0);
        }
        off = 0;
        ck_assert_int_eq(x400i_ber_get_len(o, n, &off, &len), 1);
        ck_assert_uint_eq(off, n);
        ck_assert_uint_eq(len, lens[i]);
    }
    off = 0;
    ck_assert_int_eq(x400i_ber_get_len((const uint8_t *)"\x80", 1, &off, &len), 2);   /* indefinite */
    ck_assert_uint_eq(off, 1);
    off = 0;
    ck_assert_int_eq(x400i_ber_get_len((const uint8_t *)"\x85\0\0\0\0\1", 6, &off, &len), -1);
    off = 0;
    ck_assert_int_eq(x400i_ber_get_len((const uint8_t *)"\xff", 1, &off, &len), -1);
    off = 0;   /* leading zero octets: BER, accepted */
    ck_assert_int_eq(x400i_ber_get_len((const uint8_t *)"\x82\x00\x05", 3, &off, &len), 1);
    ck_assert_uint_eq(len, 5);
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        n = x400i_ber_put_id(o, X400I_BER_CONTEXT | X400I_BER_CONSTRUCTED, tags[i]);
        for (size_t k = 0; k < n; k++) {
            off = 0;
            ck_assert_int_eq(x400i_ber_get_id(o, k, &off, &first, &tag), 0);
        }
        off = 0;
        ck_assert_int_eq(x400i_ber_get_id(o, n, &off, &first, &tag), 1);
        ck_assert_uint_eq(off, n);
        ck_assert_uint_eq(tag, tags[i]);
        ck_assert_uint_eq(first & 0xE0, X400I_BER_CONTEXT | X400I_BER_CONSTRUCTED);
    }
    off = 0;   /* [5] in the high-tag form (X.690 8.1.2.2) */
    ck_assert_int_eq(x400i_ber_get_id((const uint8_t *)"\x9f\x05", 2, &off, &first, &tag), -1);
    off = 0;   /* leading 0x80 (8.1.2.4.2) */
    ck_assert_int_eq(x400i_ber_get_id((const uint8_t *)"\x9f\x80\x7f", 3, &off, &first, &tag), -1);
    off = 0;   /* 5 octets: above 2^28 */
    ck_assert_int_eq(x400i_ber_get_id((const uint8_t *)"\x9f\x81\x80\x80\x80\x00", 6, &off, &first, &tag), -1);
}
END_TEST

/* The one pre-scan: well-formedness, depth and element bounds, the used
 * length of a TLV followed by more octets. */
START_TEST(prescan_bounds)
{
    static const uint8_t ok[] = { 0x30, 0x80, 0x31, 0x03, 0x02, 0x01, 0x05, 0x00, 0x00 };
    static const uint8_t stray_eoc[] = { 0x30, 0x04, 0x00, 0x00, 0x05, 0x00 };
    static const uint8_t over[] = { 0x30, 0x03, 0x04, 0x02, 0x00 };
    x400_diag d;
    size_t used = 0;
    ck_assert_int_eq(x400i_ber_prescan(ok, sizeof ok, 8, 100, NULL, X400_LAYER_RTSE, &d), 0);
    ck_assert_int_eq(x400i_ber_prescan(ok, sizeof ok, 1, 100, NULL, X400_LAYER_RTSE, &d), X400_ERR_LIMIT);
    ck_assert_int_eq(d.layer, X400_LAYER_RTSE);
    ck_assert_int_eq(x400i_ber_prescan(ok, sizeof ok, 8, 2, NULL, X400_LAYER_P1, &d), X400_ERR_LIMIT);
    ck_assert_int_eq(d.reason, X400_P1_R_ELEMENTS);
    ck_assert_int_eq(x400i_ber_prescan(stray_eoc, sizeof stray_eoc, 8, 100, NULL, 0, &d), X400_ERR_PARSE);
    ck_assert_int_eq(x400i_ber_prescan(over, sizeof over, 8, 100, NULL, 0, &d), X400_ERR_PARSE);
    {
        uint8_t two[sizeof ok + 2];
        memcpy(two, ok, sizeof ok);
        two[sizeof ok] = 0x05;
        two[sizeof ok + 1] = 0x00;
        ck_assert_int_eq(x400i_ber_prescan(two, sizeof two, 8, 100, NULL, 0, &d), X400_ERR_PARSE);
        ck_assert_int_eq(x400i_ber_prescan(two, sizeof two, 8, 100, &used, 0, &d), 0);
        ck_assert_uint_eq(used, sizeof ok);
    }
    for (size_t n = 0; n < sizeof ok; n++)   /* every truncation */
        ck_assert_int_eq(x400i_ber_prescan(ok, n, 8, 100, &used, 0, NULL), X400_ERR_PARSE);
    ck_assert(x400i_ber_is_one_tlv(ok, sizeof ok));
    ck_assert(!x400i_ber_is_one_tlv(ok, sizeof ok - 1));
}
END_TEST

Suite *x400t_suite_ber(void)
{
    Suite *s = suite_create("ber");
    TCase *tc = tcase_create("ber");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, read_forms);
    tcase_add_test(tc, read_refuses);
    tcase_add_test(tc, normalise_mixed);
    tcase_add_test(tc, normalise_lengths);
    tcase_add_test(tc, is_normal_agrees_with_normaliser);
    tcase_add_test(tc, deep_nesting);
    tcase_add_test(tc, writer_and_values);
    tcase_add_test(tc, length_and_identifier_codecs);
    tcase_add_test(tc, prescan_bounds);
    suite_add_tcase(s, tc);
    return s;
}
